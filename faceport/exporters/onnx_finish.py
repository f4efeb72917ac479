"""The steps every faceport ONNX file goes through after ``torch.onnx.export``.

check (``onnx.checker`` with ``full_check``: schema, types and strict shape inference) ->
simplify (onnxsim, concrete test shapes for the dynamic axes, its own numeric check on
random inputs) -> ``metadata_props`` -> check again -> serialise deterministically into a
temporary file beside the target -> check that file -> rename. Above 2 GB (protobuf's limit)
the weights go to external data in a fresh directory ``<name>.onnx.d/`` with the explicit
location ``weights.bin``. Nothing partial is ever left at the target.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceport.atomic import atomic_path
from faceport.errors import ExportError

log = logging.getLogger(__name__)
TWO_GB = 2**31 - 1
EXTERNAL_DATA = "weights.bin"


@dataclass(frozen=True)
class OnnxExport:
    """What was written: path, sha256, opset, node counts before/after onnxsim, op histogram."""

    path: Path
    sha256: str
    opset: int
    nodes_before: int
    nodes_after: int
    ops: dict[str, int] = field(default_factory=dict)
    simplified: bool = True
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(self.ops.items()))
        state = "simplified" if self.simplified else "not simplified"
        return (
            f"{self.path} (opset {self.opset}, {self.nodes_before} -> {self.nodes_after} nodes, "
            f"{state}; {ops}) sha256 {self.sha256[:16]}"
        )


def check(model: Any, output: Any, stage: str) -> None:
    """``onnx.checker.check_model(full_check=True)``; failures become :class:`ExportError`."""
    import onnx

    try:
        if model.ByteSize() < TWO_GB:
            onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError and shape-inference errors
        raise ExportError(f"ONNX check failed ({stage}): {exc}", file=str(output)) from exc


def simplify(
    model: Any, output: Any, test_shapes: Mapping[str, Sequence[int]], *, fp16: bool = False
) -> tuple[Any, bool, str]:
    """onnxsim with concrete shapes for the dynamic inputs (the graph stays dynamic).

    Its numeric check compares the graph before and after on one random input with
    onnxsim's default tolerance (rtol 1e-4, atol 1e-5), or the float16 row of
    :mod:`faceport.tolerance` (2e-2) for float16 graphs.

    Returns (model, simplified?, note). onnxsim failing to handle a graph is not fatal (the
    unsimplified, checked graph is kept and the reason returned); its numeric check failing
    is: that means the simplification changed the results.
    """
    import onnxsim

    from faceport.tolerance import tolerance_for

    shapes = {k: list(v) for k, v in test_shapes.items()}
    tol = tolerance_for("float16") if fp16 else None
    limits = {"check_rtol": tol.rtol, "check_atol": tol.atol} if tol else {}
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            simple, ok = onnxsim.simplify(model, check_n=1, test_input_shapes=shapes, **limits)
    except Exception as exc:  # onnxsim raises RuntimeError/ValueError from C++
        note = f"onnxsim could not simplify: {str(exc).splitlines()[0][:200]}"
        log.warning("%s: %s; keeping the unsimplified graph", output, note)
        return model, False, note
    if not ok:
        raise ExportError("onnxsim's own check of the simplified model failed", file=str(output))
    return simple, True, ""


def honest_output_dims(model: Any, declared: Iterable[str] = ()) -> None:
    """Give every undeclared symbolic output dimension its own name, ``<output>_d<axis>``.

    The exporters and shape inference name output dimensions they cannot compute, and may
    reuse one name for dimensions that differ: the TorchScript exporter declared mnet.25's
    stride-16 and stride-8 box maps with the stride-32 map's height and width names, which
    tells a deployer they are equal. Names of the graph inputs' dimensions (``N``, ``H``,
    ``W``) and the caller's ``declared`` ones are kept; the rest become distinct."""
    keep = set(declared)
    for value in model.graph.input:
        keep.update(d.dim_param for d in value.type.tensor_type.shape.dim if d.dim_param)
    for value in model.graph.output:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param and dim.dim_param not in keep:
                dim.dim_param = f"{value.name}_d{axis}"


def set_metadata(model: Any, metadata: Mapping[str, str]) -> None:
    del model.metadata_props[:]
    for key, value in sorted(metadata.items()):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    model.doc_string = "converted by faceport"
    model.producer_name = "faceport"


def finish(
    model: Any,
    output: str | os.PathLike[str],
    metadata: Mapping[str, str],
    *,
    test_shapes: Mapping[str, Sequence[int]],
    do_simplify: bool = True,
    fp16: bool = False,
    declared_dims: Iterable[str] = (),
) -> OnnxExport:
    """Check, simplify, stamp metadata and atomically save ``model`` to ``output``.

    ``declared_dims``: the symbolic output dimensions the caller declared (e.g. ``K``); any
    other symbolic output dimension is renamed by :func:`honest_output_dims`."""
    import hashlib

    check(model, output, "after export")
    before = len(model.graph.node)
    simplified, notes = False, []
    if do_simplify:
        model, simplified, note = simplify(model, output, test_shapes, fp16=fp16)
        if note:
            notes.append(note)
    honest_output_dims(model, declared_dims)
    set_metadata(model, metadata)  # metadata_props cannot make a valid graph invalid, so
    check(model, output, "after onnxsim and metadata" if simplified else "final")  # one check
    path = save(model, Path(output))
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxExport(
        path, digest, int(opset), before, len(model.graph.node), ops, simplified, tuple(notes)
    )


def check_file(path: Path) -> None:
    """The written file, re-read from disk and checked (catches truncated writes)."""
    import onnx

    onnx.checker.check_model(str(path), full_check=True)


def save(model: Any, target: Path) -> Path:
    """Serialise deterministically beside ``target``, check the file, rename."""
    import onnx

    if model.ByteSize() < TWO_GB:
        with atomic_path(target, suffix=".onnx") as tmp:
            tmp.write_bytes(model.SerializeToString(deterministic=True))
            try:
                check_file(tmp)
            except Exception as exc:
                raise ExportError(f"written ONNX file fails its check: {exc}",
                                  file=str(target)) from exc  # fmt: skip
        return target
    # > 2 GB: protobuf cannot hold it; weights go to external data in a fresh directory.
    folder = target.with_suffix(".onnx.d")
    if folder.exists():
        raise ExportError("external-data directory already exists", file=str(folder),
                          hint="remove it or choose another output name")  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        onnx.save_model(
            model,
            str(staging / target.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=EXTERNAL_DATA,
        )
        check_file(staging / target.name)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / target.name
