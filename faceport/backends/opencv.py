"""OpenCV DNN (CPU) over faceport's ONNX export, as apps that ship opencv-python-headless run it.

OpenCV's ONNX importer (4.x) needs static shapes (a dynamic RetinaFace file fails in
``parseShape: !isDynamicShape``), so the loader only prepares the graph and the runner exports
one fixed-size file per input shape it is fed (``export_onnx(size=..., batch=...)``, cached
for the runner's life), reads it with ``cv2.dnn.readNetFromONNX`` and asks for the graph's
outputs by name. Backend ``DNN_BACKEND_OPENCV``, target ``DNN_TARGET_CPU``; OpenCV picks its
own thread count (``cv2.setNumThreads`` is left alone). Whole-detector files do not import in
OpenCV 4.x (their post-processing ops), which is recorded by the tests with OpenCV's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends import Backend, LoadOptions, with_outputs
from faceport.backends.base import Feed, Outputs, Runner
from faceport.backends.onnxruntime import static_channels

if TYPE_CHECKING:
    from faceport.ir import Graph


class OpenCVRunner(Runner):
    """Runs the graph in ``cv2.dnn``: one fixed-shape ONNX export per input shape."""

    def __init__(self, graph: Graph, workdir: Path, *, name: str = "opencv-cpu") -> None:
        super().__init__()
        self.graph = graph
        self.workdir = workdir
        self.name = name
        self.nets: dict[tuple[int, ...], Any] = {}

    def why_unavailable(self) -> str | None:
        return _why_no_cv2()

    def activate(self) -> None:
        self.nets.clear()

    def run(self, feed: Feed) -> Outputs:
        if len(self.graph.inputs) != 1:
            from faceport.errors import FaceportError

            raise FaceportError("the OpenCV runner takes networks with one input",
                                found=[s.name for s in self.graph.inputs])  # fmt: skip
        name = self.graph.inputs[0].name
        x = np.ascontiguousarray(feed[name], dtype=np.float32)
        net = self.nets.get(x.shape) or self._build(x.shape)
        net.setInput(x)
        outputs = list(self.graph.outputs)
        values = net.forward(outputs)
        return {o: np.asarray(v) for o, v in zip(outputs, values)}

    def _build(self, shape: tuple[int, ...]) -> Any:
        import cv2

        from faceport.exporters.onnx import export_onnx

        path = self.workdir / f"model_{'x'.join(map(str, shape))}.onnx"
        export_onnx(self.graph, path, size=(shape[2], shape[3]), batch=shape[0])
        net = cv2.dnn.readNetFromONNX(str(path))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.nets[shape] = net
        return net

    def deactivate(self) -> None:
        self.nets.clear()


def _why_no_cv2() -> str | None:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "OpenCV is not installed (pip install opencv-python-headless)"
    return None


def load_opencv(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> tuple[Graph, Path]:
    """The prepared graph (its fixed-shape files are exported per input shape by the runner)."""
    return static_channels(with_outputs(graph, outputs, options)), workdir


def open_opencv(artifact: tuple[Graph, Path], entry: Backend, options: LoadOptions) -> Runner:
    graph, workdir = artifact
    return OpenCVRunner(graph, workdir, name=entry.name)


BACKENDS = (
    Backend(
        name="opencv-cpu", device="cpu", dtype="float32", load=load_opencv, runner=open_opencv,
        unavailable=lambda entry: _why_no_cv2(), options=frozenset({"optimize"}), taps=False,
        summary="faceport's ONNX export at each fed shape, OpenCV DNN (cv2.dnn) CPU",
    ),
)  # fmt: skip
