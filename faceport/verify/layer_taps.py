"""Running both sides of a per-layer localisation (:mod:`faceport.verify.localise` compares).

* against the source framework: the family's reference runner asked for every faceport
  tensor name (it maps its own layer ids through the IR's provenance and returns what it
  can tap), faceport's torch CPU graph lowered with the same names as outputs;
* against onnxruntime: the graph exported to ONNX with every intermediate tensor added as a
  graph output (no simplification, so nothing is folded away), run by onnxruntime CPU.

Each returns the report's localisation entry: the comparison as JSON plus its text, or
``{"against": ..., "skipped": reason}``.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends import make_runner
from faceport.backends.base import Feed, Outputs
from faceport.errors import BackendUnavailable, FaceportError
from faceport.ir import Graph
from faceport.verify.localise import localise, tap_names
from faceport.verify.references import reference_runner

log = logging.getLogger(__name__)
AGAINST = ("reference", "onnxruntime-cpu")


def _faceport_taps(graph: Graph, names: list[str], feed: Feed) -> Outputs:
    with make_runner("torch-cpu", graph, names) as mine:
        return mine.infer(feed)


def against_reference(graph: Graph, source: Path | None, feed: Feed) -> dict[str, Any]:
    names = tap_names(graph)
    if source is None:
        return {"against": "reference", "skipped": "no source model given"}
    ref, why_none = reference_runner(graph, source, taps=names)
    if ref is None:
        return {"against": "reference", "skipped": why_none}
    why = ref.why_unavailable()
    if why is not None:
        return {"against": ref.name, "skipped": why}
    try:
        with ref:
            ref_out = ref.infer(feed)
        my_out = _faceport_taps(graph, names, feed)
    except BackendUnavailable as exc:
        return {"against": ref.name, "skipped": str(exc)}
    except FaceportError as exc:
        return {"against": ref.name, "error": str(exc)}
    result = localise(graph, ref_out, my_out, reference_name=ref.name, candidate_name="torch-cpu")
    return _entry(ref.name, result)


def _entry(against: str, result: Any) -> dict[str, Any]:
    data = result.to_json()
    data["untapped"] = data.pop("skipped")
    return {"against": against, **data, "text": str(result)}


def onnx_tap_outputs(graph: Graph, names: list[str], feed: Feed) -> Outputs:
    """Every tensor in ``names`` computed by onnxruntime on an export of ``graph`` whose
    outputs are those tensors."""
    from faceport.exporters.onnx import export_onnx
    from faceport.ort_session import open_session

    inputs = {s.name for s in graph.inputs}
    tapped = dataclasses.replace(graph, outputs=tuple(n for n in names if n not in inputs))
    with tempfile.TemporaryDirectory(prefix="faceport-onnx-taps-") as tmp:
        path = Path(tmp) / "taps.onnx"
        export_onnx(tapped, path, simplify=False)
        _forget_intermediate_shapes(path)
        session = open_session(path, mem_pattern=False)
        out_names = [o.name for o in session.get_outputs()]
        values = session.run(
            out_names, {s.name: np.asarray(feed[s.name], np.float32) for s in graph.inputs}
        )
    return dict(zip(out_names, values))


def _forget_intermediate_shapes(path: Path) -> None:
    """Give every output its own symbolic dims and drop inferred value_info: the exporter
    writes the example input's concrete sizes there, and onnxruntime would plan buffers for
    them (then fail on another image size)."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]
    for i, out in enumerate(model.graph.output):
        for axis, dim in enumerate(out.type.tensor_type.shape.dim):
            dim.Clear()
            dim.dim_param = f"o{i}_{axis}"
    onnx.save(model, str(path))


def against_onnx(graph: Graph, feed: Feed) -> dict[str, Any]:
    from faceport.ort_session import why_unavailable

    if (missing := why_unavailable()) is not None:
        return {"against": "onnxruntime-cpu", "skipped": missing}
    names = tap_names(graph)
    try:
        theirs = onnx_tap_outputs(graph, names, feed)
    except (FaceportError, ImportError) as exc:
        return {"against": "onnxruntime-cpu", "skipped": f"export with taps failed: {exc}"}
    mine = _faceport_taps(graph, names, feed)
    result = localise(
        graph, mine, theirs, reference_name="torch-cpu", candidate_name="onnxruntime-cpu"
    )
    return _entry("onnxruntime-cpu", result)


def run_localisation(
    graph: Graph, source: Path | None, feed: Feed, against: str
) -> dict[str, Any]:
    """One localisation entry for ``against`` (``reference`` or ``onnxruntime-cpu``)."""
    if against == "reference":
        return against_reference(graph, source, feed)
    if against == "onnxruntime-cpu":
        return against_onnx(graph, feed)
    raise FaceportError(f"cannot localise against {against!r}", expected=AGAINST)
