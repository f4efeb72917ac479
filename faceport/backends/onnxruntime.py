"""onnxruntime (CPU) over an ONNX file: faceport's export of the graph, or a file a user ships.

The loader exports with :func:`faceport.exporters.onnx.export_onnx` into the runner's work
folder (a dynamic channel axis pinned to 3: the exporter keeps only N, H, W dynamic); the
session is opened by :mod:`faceport.ort_session` with the load options' thread settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends import Backend, LoadOptions, prepared
from faceport.backends.base import Feed, Outputs, Runner

if TYPE_CHECKING:
    from faceport.ir import Graph

#: onnxruntime's input type names -> numpy (whole-detector files take a uint8 image)
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(uint8)": np.uint8, "tensor(int64)": np.int64}  # fmt: skip


class OnnxRuntimeRunner(Runner):
    """Run an ONNX (or ORT-format) file; ``settings`` go to :func:`faceport.ort_session.
    open_session` (``threads``, ``spinning``, ``sequential``, ``mem_pattern``, ``ort_format``)."""

    def __init__(
        self, path: str | os.PathLike[str], *, name: str = "onnxruntime-cpu", **settings: Any
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = name
        self.settings = settings
        self.session: Any = None

    def why_unavailable(self) -> str | None:
        from faceport.ort_session import why_unavailable

        return why_unavailable()

    def activate(self) -> None:
        from faceport.ort_session import open_session

        self.session = open_session(self.path, **self.settings)

    def run(self, feed: Feed) -> Outputs:
        inputs = {
            i.name: np.ascontiguousarray(feed[i.name], dtype=_DTYPES.get(i.type, np.float32))
            for i in self.session.get_inputs()
        }
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, inputs)))

    def deactivate(self) -> None:
        self.session = None


def static_channels(graph: Graph) -> Graph:
    """Pin a dynamic channel axis of an NCHW input to 3 (every image network here takes 3)."""
    specs = tuple(
        replace(s, shape=(s.shape[0], 3, *s.shape[2:]))
        if len(s.shape) == 4 and s.shape[1] is None else s
        for s in graph.inputs
    )  # fmt: skip
    return replace(graph, inputs=specs)


def load_onnx(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> Path:
    """The graph exported to ``workdir/model.onnx`` (float16 with ``fp16``)."""
    from faceport.exporters.onnx import export_onnx

    source = static_channels(prepared(graph, options))
    if outputs is not None:
        source = replace(source, outputs=tuple(outputs))
    path = workdir / "model.onnx"
    export_onnx(source, path, fp16=options.fp16)
    return path


def open_onnx(path: Path, entry: Backend, options: LoadOptions) -> Runner:
    return OnnxRuntimeRunner(
        path, name=entry.name, threads=options.threads, spinning=options.spinning,
        sequential=options.sequential,
    )  # fmt: skip


def _unavailable(entry: Backend) -> str | None:
    from faceport.ort_session import why_unavailable

    return why_unavailable()


BACKENDS = (
    Backend(
        name="onnxruntime-cpu", device="cpu", dtype="float32", load=load_onnx, runner=open_onnx,
        unavailable=_unavailable,
        options=frozenset({"optimize", "fp16", "threads", "spinning", "sequential"}),
        taps=False, summary="faceport's ONNX export, onnxruntime CPU, ORT_ENABLE_ALL",
    ),
)  # fmt: skip
