"""onnxruntime (CPU) over an exported ONNX file, with full graph optimisation."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner

#: onnxruntime's input type names -> numpy (whole-detector files take a uint8 image)
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(uint8)": np.uint8, "tensor(int64)": np.int64}  # fmt: skip


class OnnxRuntimeRunner(Runner):
    """Run an ONNX file; ``threads`` sets intra-op threads (0: onnxruntime's default)."""

    def __init__(self, path: Path, *, name: str = "onnxruntime-cpu", threads: int = 0) -> None:
        super().__init__()
        self.path = Path(path)
        self.name = name
        self.threads = threads
        self._session: Any = None

    def why_unavailable(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return "pip install onnxruntime"
        return None

    def activate(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            options.intra_op_num_threads = self.threads
        self._session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )

    def run(self, feed: Feed) -> Outputs:
        inputs = {
            i.name: np.ascontiguousarray(feed[i.name], dtype=_DTYPES.get(i.type, np.float32))
            for i in self._session.get_inputs()
        }
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(names, inputs)))

    def deactivate(self) -> None:
        self._session = None


class _ExportedOnnxRunner(OnnxRuntimeRunner):
    """Exports the graph to a temporary ONNX file on activation."""

    def __init__(self, graph: Graph) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="faceport-ort-")
        super().__init__(Path(self._tmp.name) / "model.onnx")
        self.graph = graph

    def activate(self) -> None:
        from faceport.exporters.onnx import export_onnx

        export_onnx(self.graph, self.path)
        super().activate()

    def deactivate(self) -> None:
        super().deactivate()
        self._tmp.cleanup()


def make_cpu(graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    """Backend ``onnxruntime-cpu`` for the matrix (graph outputs only)."""
    return _ExportedOnnxRunner(graph)
