"""Export a converted graph to ONNX: checked, simplified, dynamic, with metadata, atomic.

Exporter choice, pinned per family: ``torch.onnx.export(..., dynamo=False)`` (the
TorchScript-based exporter) for dlib, MXNet RetinaFace and S3FD alike. For these
convolutional graphs it yields one ONNX node per layer op (dlib MMOD: 31 nodes, mnet.25:
229 before / fewer after onnxsim, S3FD: 103), takes ``dynamic_axes`` for batch/height/width
directly, and is byte-for-byte deterministic (tests/exporters check the sha256 of two
exports). The dynamo exporter stays selectable with ``exporter="dynamo"``.

Pipeline: lower -> ``torch.onnx.export`` into a temporary directory -> (fp16 conversion,
:mod:`faceport.exporters.fp16`: which nodes stay float32 and why) ->
:func:`faceport.exporters.onnx_finish.finish` (checker, onnxsim, metadata, atomic save).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from faceport.errors import ExportError
from faceport.exporters.fp16 import fp32_nodes, to_float16, toposort
from faceport.exporters.metadata import deploy_metadata, example_shape
from faceport.exporters.onnx_finish import OnnxExport, finish
from faceport.ir import Graph

log = logging.getLogger(__name__)
DEFAULT_OPSET = 17
EXPORTERS = ("torchscript", "dynamo")

__all__ = [
    "DEFAULT_OPSET", "OnnxExport", "export_module", "export_onnx", "to_float16", "toposort",
]  # fmt: skip


def export_module(
    module: Any,
    args: tuple[Any, ...],
    path: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None,
    opset: int,
    exporter: str = "torchscript",
    target: Any = None,
) -> Any:
    """``torch.onnx.export`` into ``path`` and load the result (an ``onnx.ModelProto``)."""
    import onnx
    import torch

    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}", expected=EXPORTERS, found=exporter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                args,
                str(path),
                dynamo=exporter == "dynamo",
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
    except Exception as exc:  # torch raises many types; the user needs the cause
        raise ExportError(f"torch.onnx.export failed: {exc}", file=str(target or path)) from exc
    return onnx.load(str(path))


def graph_dynamic_axes(graph: Graph) -> dict[str, dict[int, str]]:
    """Symbolic names for the dynamic input axes (``N``, ``H``, ``W``) and output batch."""
    axes: dict[str, dict[int, str]] = {}
    for spec in graph.inputs:
        names = {0: "N", len(spec.shape) - 2: "H", len(spec.shape) - 1: "W"}
        dims = {a: names.get(a, f"d{a}") for a, d in enumerate(spec.shape) if d is None}
        if dims:
            axes[spec.name] = dims
    for name in graph.outputs:
        axes[name] = {0: "N"}
    return axes


def export_shapes(
    graph: Graph, *, dynamic: bool, size: tuple[int, int] | None, batch: int | None
) -> tuple[list[tuple[int, ...]], dict[str, dict[int, str]]]:
    """(trace shape per input, dynamic axes) for the requested size and batch.

    ``size`` (H, W) fixes the image inputs' (rank 4) last two axes and ``batch`` their first;
    a graph's own fixed dimension that contradicts them is refused, and so is
    ``dynamic=False`` with a dynamic H, W and no ``size`` (there is no default size)."""
    shapes = [list(s) for s in (example_shape(graph, size) if size else example_shape(graph))]
    axes = graph_dynamic_axes(graph) if dynamic else {}
    images = [(spec, shape) for spec, shape in zip(graph.inputs, shapes) if len(spec.shape) == 4]
    if (size or batch) and not images:
        raise ExportError("--input-size and --batch apply to image inputs (N, C, H, W); this "
                          "network has none", field="inputs",
                          found=[list(s.shape) for s in graph.inputs])  # fmt: skip
    for spec, shape in images:
        fixes = dict(zip((2, 3), size)) if size else {}
        if batch is not None:
            fixes[0] = batch
        for axis, want in fixes.items():
            if spec.shape[axis] not in (None, want):
                raise ExportError(
                    f"input {spec.name!r} has a fixed {('batch', '', 'height', 'width')[axis]}",
                    field="batch" if axis == 0 else "input_size", expected=spec.shape[axis],
                    found=want,
                )  # fmt: skip
            shape[axis] = want
            axes.get(spec.name, {}).pop(axis, None)
        if size is None and not dynamic and None in spec.shape[2:]:
            raise ExportError(
                f"input {spec.name!r} has a dynamic height and width: a fixed-shape export "
                "needs --input-size WxH", field="input_size", expected="WxH", found="none",
            )  # fmt: skip
    if batch is not None:
        for name in graph.outputs:
            axes.get(name, {}).pop(0, None)
    return [tuple(s) for s in shapes], {k: v for k, v in axes.items() if v}


def export_onnx(
    graph: Graph,
    output: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    dynamic: bool = True,
    fp16: bool = False,
    fp16_io: bool = False,
    simplify: bool = True,
    exporter: str = "torchscript",
    size: tuple[int, int] | None = None,
    batch: int | None = None,
) -> OnnxExport:
    """Write ``graph`` as ONNX to ``output``; return what was written.

    ``dynamic``: batch, height and width are symbolic (``N``, ``H``, ``W``) where the graph
    input is dynamic; ``size`` (H, W) and ``batch`` fix those axes (``dynamic=False`` needs
    ``size`` where the graph's own H, W are dynamic: there is no silent default size).
    ``fp16``: weights and compute in float16 (I/O float32 unless ``fp16_io``).
    """
    import torch

    from faceport.lower import lower

    module = lower(graph)
    in_names = [s.name for s in graph.inputs]
    out_names = list(graph.outputs)
    shapes, axes = export_shapes(graph, dynamic=dynamic, size=size, batch=batch)
    args = tuple(torch.zeros(s) for s in shapes)
    with tempfile.TemporaryDirectory(prefix="faceport-onnx-") as tmp_dir:
        model = export_module(
            module, args, Path(tmp_dir) / "raw.onnx", input_names=in_names,
            output_names=out_names, dynamic_axes=axes or None, opset=opset,
            exporter=exporter, target=output,
        )  # fmt: skip
    kept: list[str] = []
    if fp16:
        kept = fp32_nodes(graph, model)
        model = to_float16(model, keep_io_types=not fp16_io, keep_fp32=kept)
    shown = {
        name: [axes.get(name, {}).get(a, d) for a, d in enumerate(shape)]
        for name, shape in zip(in_names, shapes)
    }
    metadata = deploy_metadata(
        graph, out_names, fp16=fp16, io_dtype="float16" if fp16 and fp16_io else "float32",
        exporter=exporter, opset=opset, dynamic=bool(axes), input_shapes=shown,
    )  # fmt: skip
    if fp16:
        metadata["faceport.fp16_fp32_nodes"] = json.dumps(kept)
    test_shapes = dict(zip(in_names, shapes))
    result = finish(
        model, output, metadata, test_shapes=test_shapes, do_simplify=simplify, fp16=fp16
    )
    log.info("wrote %s", result)
    return result
