"""What a deployer needs to know, recorded in every exported file.

The readers record provenance and preprocessing in ``Graph.meta`` in their own shapes
(dlib: ``source = {file, sha256}`` and ``input = {r, g, b, ...}``; MXNet: ``sources = [{file,
sha256}, ...]`` and ``preprocess``; S3FD: ``source`` (a name), ``source_sha256`` and
``preprocess``). :func:`deploy_metadata` normalises them into one flat, sorted, string-valued
table so every exported file answers the same questions the same way. Volatile reader facts
(absolute paths, read timings) are deliberately left out: exports must be byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from faceport import __version__
from faceport.ir import Graph

#: what each family's raw outputs mean, when the reader did not say
OUTPUT_MEANING = {
    "dlib/loss_mmod": "per detector window: MMOD score map (N, K, h, w); > adjust_threshold "
    "(0) is a detection centred at the window's map_output_to_input position",
    "dlib/loss_metric": "face descriptor (N, 128); same person when L2 distance < 0.6",
    "mxnet/retinaface": "per stride 32/16/8: cls_prob_reshape (N, 2A, h, w; face prob in "
    "channels A..2A), bbox_pred (N, 4A, h, w), landmark_pred (N, 10A, h, w); A = 2 anchors",
    "s3fd": "per level stride 4..128: conf logits (N, 2, h, w; softmax channel 1 = face), "
    "loc (N, 4, h, w) SSD deltas with variances (0.1, 0.2) against square anchors 4*stride",
}


def sources(meta: Mapping[str, Any]) -> list[dict[str, str]]:
    """``[{file, sha256}, ...]`` of the source files, whatever shape the reader used."""
    found = meta.get("sources")
    if isinstance(found, list):
        return [
            {"file": str(s.get("file", "")), "sha256": str(s.get("sha256", ""))}
            for s in found
            if isinstance(s, Mapping)
        ]
    source = meta.get("source")
    if isinstance(source, Mapping):
        return [{"file": str(source.get("file", "")), "sha256": str(source.get("sha256", ""))}]
    if isinstance(source, str):
        return [{"file": source, "sha256": str(meta.get("source_sha256", ""))}]
    return []


def preprocessing(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``{color, mean, scale}`` of the network input: ``(pixel - mean) * scale``, channels
    in ``color`` order. dlib's input layers subtract the r, g, b means and divide by 256
    (``input_rgb_image*::to_tensor``)."""
    pre = meta.get("preprocess")
    if isinstance(pre, Mapping):
        scale = float(pre.get("scale", 1.0))
        std = pre.get("std")
        out: dict[str, Any] = {"color": pre.get("color", ""), "mean": pre.get("mean", "")}
        if isinstance(std, list) and std and any(float(s) != 1.0 for s in std):
            out["std"] = std
        out["scale"] = 1.0 / scale if "std" in pre else scale  # insightface divides by scale
        return out
    inp = meta.get("input")
    if isinstance(inp, Mapping) and all(k in inp for k in ("r", "g", "b")):
        return {
            "color": "RGB",
            "mean": [float(inp["r"]), float(inp["g"]), float(inp["b"])],
            "scale": 1.0 / 256.0,
        }
    return {"color": "", "mean": "", "scale": ""}


def family_key(graph: Graph) -> str:
    meta = graph.meta
    family = str(meta.get("family", graph.framework))
    loss = meta.get("loss")
    if family == "dlib" and isinstance(loss, Mapping):
        return f"dlib/{loss.get('kind', '')}"
    if family == "mxnet" and meta.get("model"):
        return f"mxnet/{meta['model']}"
    return family


def deploy_metadata(graph: Graph, output_names: list[str], **extra: Any) -> dict[str, str]:
    """String key/values: family, source file and sha256, input layout, colour order,
    mean/scale, output names and meaning, faceport version (sorted keys, deterministic)."""
    meta = graph.meta
    files = sources(meta)
    pre = preprocessing(meta)
    data: dict[str, Any] = {
        "faceport.version": __version__,
        "faceport.family": meta.get("family", graph.framework),
        "faceport.model": family_key(graph),
        "faceport.source_file": ",".join(s["file"] for s in files),
        "faceport.source_sha256": ",".join(s["sha256"] for s in files),
        "faceport.input_layout": "NCHW",
        "faceport.inputs": [s.to_json() for s in graph.inputs],
        "faceport.color_order": pre["color"],
        "faceport.mean": pre["mean"],
        "faceport.scale": pre["scale"],
        "faceport.outputs": output_names,
        "faceport.output_meaning": meta.get("outputs_meaning")
        or OUTPUT_MEANING.get(family_key(graph), ""),
    }
    if "std" in pre:
        data["faceport.std"] = pre["std"]
    for key in ("input", "loss", "detector", "strides", "passes"):
        if key in meta:
            data[f"faceport.{key}"] = meta[key]
    data.update({f"faceport.{k}": v for k, v in extra.items()})
    return {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in sorted(data.items())
    }


def example_shape(graph: Graph, default_hw: tuple[int, int] = (128, 160)) -> list[tuple[int, ...]]:
    """A concrete shape per graph input: fixed dims kept, dynamic batch 1, dynamic H/W from
    ``meta["example_hw"]`` or ``default_hw``."""
    hw = graph.meta.get("example_hw", default_hw)
    shapes = []
    for spec in graph.inputs:
        dims = []
        for axis, dim in enumerate(spec.shape):
            if dim is not None:
                dims.append(int(dim))
            elif axis == 0:
                dims.append(1)
            elif axis >= len(spec.shape) - 2:
                dims.append(int(hw[axis - (len(spec.shape) - 2)]))
            else:
                raise ValueError(f"input {spec.name!r} axis {axis} is dynamic and not spatial")
        shapes.append(tuple(dims))
    return shapes
