"""Whole-detector ONNX: uint8 image in, boxes/scores (/landmarks) out, no faceport at run time.

Inputs: ``image`` uint8 (H, W, 3), RGB for every kind unless exported with
``input_order="BGR"`` (recorded as ``faceport.image_color_order``),
``score_threshold`` and ``iou_threshold`` float32 scalars (defaults in
``faceport.threshold_defaults``). Outputs: ``boxes`` float32 (K, 4) x1, y1, x2, y2 in image
pixels, ``scores`` float32 (K,) in descending order, RetinaFace also ``landmarks`` float32
(K, 5, 2). H and W are dynamic unless a ``size`` is given (RetinaFace, S3FD); the dlib MMOD
detector is always exported for a fixed size (its pyramid layout is a function of the size,
:mod:`faceport.exporters.detector_dlib`). Pre-processing, anchor generation (from the feature maps'
own sizes), decoding and ONNX ``NonMaxSuppression`` (:mod:`faceport.detect.onnx_nms`) are
all in the graph. Exporter: ``dynamo=False`` (the NMS symbolic is a TorchScript-exporter
``symbolic``). fp16: the network's nodes (``/net/...``) in float16 except those
:func:`faceport.exporters.fp16.fp32_nodes` keeps (dlib: the score-map ``con``), and
pre/post-processing truly in float32 (no float16 round trips between its nodes); the kept
nodes are listed in ``faceport.fp16_fp32_nodes``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from faceport.errors import ExportError
from faceport.exporters.fp16 import fp32_nodes, to_float16
from faceport.exporters.metadata import deploy_metadata
from faceport.exporters.onnx import DEFAULT_OPSET, export_module
from faceport.exporters.onnx_finish import OnnxExport, finish
from faceport.ir import Graph
from faceport.kinds import ModelKind, all_kinds, kind_of, resolve

log = logging.getLogger(__name__)
EXAMPLE_HW = (200, 256)
INPUTS = ["image", "score_threshold", "iou_threshold"]


def detector_kind(graph: Graph) -> ModelKind:
    """The model kind, when it has a whole-detector builder; else an :class:`ExportError`."""
    kind = kind_of(graph)
    if kind.export_builder is None:
        builders = [k.title for k in all_kinds() if k.export_builder is not None]
        raise ExportError(
            "this model is not a detector faceport can export with post-processing",
            field="info.kind", expected=", ".join(builders), found=kind.title,
        )  # fmt: skip
    return kind


def detector_module(
    graph: Graph, *, size: tuple[int, int] | None = None, input_order: str = "RGB",
    **extras: Any,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """(whole-detector ``nn.Module``, info) for ``graph``; the network is its ``net``.

    ``size``: (H, W) of the image the module is built for (None: any size, where the kind
    allows it); ``input_order``: the image's channel order, "RGB" or "BGR" (every kind takes
    both). ``extras``: the kind's own build options (its builder's ``EXTRAS``, e.g.
    the dlib detector's ``upsample`` and ``max_candidates``); any other is refused."""
    from faceport.lower import lower

    kind = detector_kind(graph)
    assert kind.export_builder is not None
    builder = resolve(kind.export_builder)
    takes = frozenset(getattr(builder, "EXTRAS", ()))
    extra = sorted(set(extras) - takes)
    if extra:
        raise ExportError(
            f"the {kind.title} whole-detector export does not take {', '.join(extra)}",
            field=extra[0], expected=", ".join(sorted(takes)) or "no extra options",
        )  # fmt: skip
    net = lower(graph)
    module, info = builder.build(net, graph, size=size, input_order=input_order, **extras)
    return module.eval(), {"kind": kind.name, **info}


def example_inputs(hw: tuple[int, int] = EXAMPLE_HW, seed: int = 0) -> tuple[Any, ...]:
    """A random uint8 image and the two thresholds, as torch tensors (for tracing)."""
    import numpy as np
    import torch

    image = np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)
    return torch.from_numpy(image), torch.tensor(0.5), torch.tensor(0.4)


def export_detector(
    graph: Graph,
    output: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    simplify: bool = True,
    size: tuple[int, int] | None = None,
    input_order: str = "RGB",
    **extras: Any,
) -> OnnxExport:
    """Write the whole detector of ``graph`` as one ONNX file: for images of ``size``
    (H, W), or dynamic H, W when ``size`` is None (refused by kinds that need a size).
    ``extras``: the kind's build options (:func:`detector_module`)."""
    import torch

    if opset < 11:
        raise ExportError("NonMaxSuppression needs opset >= 11", field="opset", expected=">= 11",
                          found=opset)  # fmt: skip
    module, info = detector_module(graph, size=size, input_order=input_order, **extras)
    outputs = list(info["outputs"])
    hw = size or EXAMPLE_HW
    axes: dict[str, dict[int, str]] = {} if size else {"image": {0: "H", 1: "W"}}
    axes.update({name: {0: "K"} for name in outputs})
    with tempfile.TemporaryDirectory(prefix="faceport-det-") as tmp_dir, torch.no_grad():
        model = export_module(
            module, example_inputs(hw), Path(tmp_dir) / "raw.onnx", input_names=INPUTS,
            output_names=outputs, dynamic_axes=axes, opset=opset, target=output,
        )  # fmt: skip
    kept: list[str] = []
    if fp16:
        kept = fp32_nodes(graph, model, "/net/")
        model = to_float16(model, keep_io_types=True, net_prefix="/net/", keep_fp32=kept)
    metadata = deploy_metadata(
        graph, outputs, with_postprocess=True, fp16=fp16, io_dtype="float32",
        exporter="torchscript", opset=opset, dynamic=size is None,
        image_layout="HWC uint8", image_color_order=info["image_color_order"],
        threshold_defaults=info["defaults"], postprocess=info["postprocess"],
        pyramid=info.get("pyramid", ""), detector_kind=info["kind"],
        input_size="dynamic" if size is None else f"{size[1]}x{size[0]}",
        **{k: info[k] for k in ("upsample_num_times", "max_candidates") if k in info},
    )  # fmt: skip
    metadata["faceport.input_layout"] = "HWC"
    if fp16:
        metadata["faceport.fp16_fp32_nodes"] = json.dumps(kept)
    shapes = {"image": [*hw, 3], "score_threshold": [], "iou_threshold": []}
    result = finish(model, output, metadata, test_shapes=shapes, do_simplify=simplify, fp16=fp16,
                    declared_dims=["K"])  # fmt: skip
    log.info("wrote whole detector %s", result)
    return result
