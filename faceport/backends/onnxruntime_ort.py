"""onnxruntime over the ORT format: faceport's ONNX export converted by onnxruntime's
``convert_onnx_models_to_ort`` (what mobile and minimal onnxruntime builds load), opened with
``session.load_model_format = ORT``. It checks that the converted file computes what the
graph does; the ``.ort`` a user ships is the same conversion (``faceport export --ort``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faceport.backends import Backend, LoadOptions
from faceport.backends.base import Runner
from faceport.backends.onnxruntime import OnnxRuntimeRunner, load_onnx

if TYPE_CHECKING:
    from faceport.ir import Graph


def load_ort(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> Path:
    """``workdir/model.ort`` converted from the ONNX export."""
    from faceport.exporters.ort_tools import convert_to_ort

    return convert_to_ort(load_onnx(graph, outputs, options, workdir), workdir / "model.ort")


def open_ort(path: Path, entry: Backend, options: LoadOptions) -> Runner:
    return OnnxRuntimeRunner(
        path, name=entry.name, threads=options.threads, spinning=options.spinning,
        sequential=options.sequential, ort_format=True,
    )  # fmt: skip


def _unavailable(entry: Backend) -> str | None:
    from faceport.ort_session import why_unavailable

    return why_unavailable()


BACKENDS = (
    Backend(
        name="onnxruntime-ort-cpu", device="cpu", dtype="float32", load=load_ort,
        runner=open_ort, unavailable=_unavailable,
        options=frozenset({"optimize", "fp16", "threads", "spinning", "sequential"}),
        taps=False, summary="faceport's ONNX export in ORT format, onnxruntime CPU",
    ),
)  # fmt: skip
