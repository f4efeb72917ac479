"""What a deployer needs to know, recorded in every exported file.

:func:`deploy_metadata` writes the model's typed info (:mod:`faceport.modelinfo`: sources,
preprocessing, input, head) and its kind's output meaning (:mod:`faceport.kinds`) as one flat,
sorted, string-valued table, so every exported file answers the same questions the same way.
Volatile reader facts (absolute paths, read timings) are deliberately left out: exports must
be byte-identical.
"""

from __future__ import annotations

import json
from typing import Any

from faceport import __version__
from faceport.ir import Graph
from faceport.kinds import info_of, kind_of
from faceport.modelinfo import ModelInfo


def preprocessing(info: ModelInfo) -> dict[str, Any]:
    """``{color, mean, scale[, std]}`` of the network input as
    ``((pixel - mean) * scale) [/ std]``, channels in ``color`` order (dlib: std 256 becomes
    scale 1/256; insightface: scale 1/pixel_scale)."""
    pre = info.preprocess
    if pre is None:
        return {"color": "", "mean": "", "scale": ""}
    out: dict[str, Any] = {"color": pre.color, "mean": list(pre.mean)}
    if len(set(pre.std)) == 1 and pre.std[0] != 1.0:
        out["scale"] = 1.0 / (pre.std[0] * pre.pixel_scale)
    else:
        out["scale"] = 1.0 / pre.pixel_scale
        if any(s != 1.0 for s in pre.std):
            out["std"] = list(pre.std)
    return out


def model_key(info: ModelInfo) -> str:
    """``dlib/<loss>``, ``mxnet/<kind>`` or the family (``faceport.model``)."""
    if info.family == "dlib" and info.head is not None:
        return f"dlib/{info.head.kind}"
    if info.family == "mxnet" and info.kind != "network":
        return f"mxnet/{info.kind}"
    return info.family


def deploy_metadata(graph: Graph, output_names: list[str], **extra: Any) -> dict[str, str]:
    """String key/values: family, kind, source files and sha256, input layout, colour order,
    mean/scale, output names and meaning, faceport version (sorted keys, deterministic)."""
    info = info_of(graph)
    pre = preprocessing(info)
    data: dict[str, Any] = {
        "faceport.version": __version__,
        "faceport.family": info.family,
        "faceport.kind": info.kind,
        "faceport.model": model_key(info),
        "faceport.source_file": ",".join(s.file for s in info.sources),
        "faceport.source_sha256": ",".join(s.sha256 for s in info.sources),
        "faceport.input_layout": "NCHW",
        "faceport.inputs": [s.to_json() for s in graph.inputs],
        "faceport.color_order": pre["color"],
        "faceport.mean": pre["mean"],
        "faceport.scale": pre["scale"],
        "faceport.outputs": output_names,
        "faceport.output_meaning": kind_of(graph).outputs_meaning,
        "faceport.info": info.portable().to_json(),
    }
    if "std" in pre:
        data["faceport.std"] = pre["std"]
    if "passes" in graph.meta:
        data["faceport.passes"] = graph.meta["passes"]
    data.update({f"faceport.{k}": v for k, v in extra.items()})
    return {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in sorted(data.items())
    }


def example_shape(graph: Graph, default_hw: tuple[int, int] = (128, 160)) -> list[tuple[int, ...]]:
    """A concrete shape per graph input: fixed dims kept, dynamic batch 1, dynamic H/W
    ``default_hw``."""
    hw = default_hw
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
