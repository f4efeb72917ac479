"""dlib's own Python bindings (``dlib-bin``) as references.

* :class:`DlibMMODRunner`: ``dlib.cnn_face_detection_model_v1(path)(image, upsample)``;
  feed ``{"image": uint8 (H, W, 3) RGB}``, outputs ``boxes`` float64 (N, 4) as dlib's
  ``rect.left(), top(), right(), bottom()`` (inclusive) and ``scores`` (N,) confidences.
* :class:`DlibDescriptorRunner`: ``dlib.face_recognition_model_v1(path)
  .compute_face_descriptor(chips, num_jitters=0)`` on aligned 150x150 chips; feed
  ``{"chips": uint8 (N, 150, 150, 3)}``, output ``descriptors`` float64 (N, 128).

* :class:`DlibBinDetector`: the MMOD pipeline under the detector contract (reference
  ``dlib-bin``).

``dlib`` is imported only when a runner is activated (``import faceport`` stays light).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner
from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph

INSTALL_HINT = "pip install dlib-bin"


def import_dlib() -> Any:
    """The ``dlib`` module, or :class:`FaceportError` saying how to install it."""
    try:
        import dlib
    except ImportError as exc:
        raise FaceportError(f"dlib is not importable ({exc})", hint=INSTALL_HINT) from None
    return dlib


def _why_no_dlib() -> str | None:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


class _DlibModelRunner(Runner):
    device = "cpu"
    dtype = "float32"

    def __init__(self, model_path: str | os.PathLike[str], *, name: str = "dlib") -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.name = name
        self._model: Any = None

    def why_unavailable(self) -> str | None:
        reason = _why_no_dlib()
        if reason is None and not self.model_path.is_file():
            return f"model file {self.model_path} does not exist"
        return reason

    def deactivate(self) -> None:
        self._model = None


class DlibMMODRunner(_DlibModelRunner):
    """``cnn_face_detection_model_v1`` with a fixed ``upsample_num_times``."""

    def __init__(
        self, model_path: str | os.PathLike[str], *, upsample_num_times: int = 0,
        name: str = "dlib",
    ) -> None:
        super().__init__(model_path, name=name)
        self.upsample_num_times = int(upsample_num_times)

    def activate(self) -> None:
        self._model = import_dlib().cnn_face_detection_model_v1(str(self.model_path))

    def run(self, feed: Feed) -> Outputs:
        image = np.ascontiguousarray(feed["image"], dtype=np.uint8)
        dets = self._model(image, self.upsample_num_times)
        boxes = np.array(
            [[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in dets],
            dtype=np.float64,
        ).reshape(-1, 4)
        scores = np.array([d.confidence for d in dets], dtype=np.float64)
        return {"boxes": boxes, "scores": scores}


class DlibDescriptorRunner(_DlibModelRunner):
    """``face_recognition_model_v1.compute_face_descriptor`` on aligned chips, no jitter."""

    def activate(self) -> None:
        self._model = import_dlib().face_recognition_model_v1(str(self.model_path))

    def run(self, feed: Feed) -> Outputs:
        chips = np.asarray(feed["chips"], dtype=np.uint8)
        if chips.ndim == 3:
            chips = chips[None]
        batch = [np.ascontiguousarray(c) for c in chips]
        vectors = self._model.compute_face_descriptor(batch, 0)
        return {"descriptors": np.array([np.asarray(v) for v in vectors], dtype=np.float64)}


class DlibBinDetector(Detector):
    """``dlib.cnn_face_detection_model_v1(source)(image, upsample_num_times)`` under the
    detector contract. dlib's Python API has no threshold argument (it keeps scores > 0): a
    ``score_threshold >= 0`` is applied to its output, which equals dlib's
    ``adjust_threshold`` (greedy NMS in score order: a box under the threshold only ever
    suppresses boxes under it too); a negative one cannot be reproduced and is refused."""

    title = "dlib-bin MMOD detector"
    takes = frozenset({"upsample", "score_threshold"})

    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.source = Path(source)
        self._runners: dict[int, DlibMMODRunner] = {}

    def why_unavailable(self) -> str | None:
        return DlibMMODRunner(self.source).why_unavailable()

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        upsample = int(pick(options.upsample, 0))
        threshold = float(pick(options.score_threshold, 0.0))
        if threshold < 0:
            raise FaceportError(
                "dlib's Python detector cannot lower its threshold below 0",
                field="score_threshold", found=threshold,
            )  # fmt: skip
        runner = self._runners.get(upsample)
        if runner is None:
            runner = DlibMMODRunner(self.source, upsample_num_times=upsample)
            runner.__enter__()
            self._runners[upsample] = runner
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        out = runner.infer({"image": image})
        keep = out["scores"] > threshold
        order = np.argsort(-out["scores"][keep], kind="stable")
        return Detections(out["boxes"][keep][order], out["scores"][keep][order])

    def close(self) -> None:
        for runner in self._runners.values():
            runner.__exit__(None, None, None)
        self._runners.clear()


def chip_from_dlib(
    image: np.ndarray, shape: Any, size: int = 150, padding: float = 0.25
) -> np.ndarray:
    """The aligned chip dlib's ``compute_face_descriptor(img, shape)`` would use: dlib's own
    ``get_face_chip`` on a ``dlib.full_object_detection`` (so the comparison is on identical
    chips)."""
    dlib = import_dlib()
    chip = dlib.get_face_chip(np.ascontiguousarray(image, dtype=np.uint8), shape, size, padding)
    return np.asarray(chip, dtype=np.uint8)


def detector(graph: Graph, source: Path) -> DlibBinDetector:
    """Reference entry ``dlib-bin``: dlib's own MMOD pipeline on ``source``."""
    return DlibBinDetector(source)


class DlibBinDescriptorRunner(Runner):
    """dlib's ``compute_face_descriptor`` on the feed's uint8 chip (``feed["@chip"]``, the one
    faceport's input was made from), returned under the graph's output name and shape."""

    name = "dlib-bin"
    timeout_enforced = True

    def __init__(self, graph: Graph, source: Path) -> None:
        super().__init__()
        self.graph = graph
        self.inner = DlibDescriptorRunner(source, name=self.name)

    def why_unavailable(self) -> str | None:
        return self.inner.why_unavailable()

    def activate(self) -> None:
        self.inner.__enter__()

    def run(self, feed: Feed) -> Outputs:
        if "@chip" not in feed:
            raise FaceportError("the dlib descriptor reference needs the feed's chip ('@chip')")
        out = self.inner.infer({"chips": feed["@chip"]})["descriptors"]
        name = self.graph.outputs[0]
        return {name: np.asarray(out, np.float32).reshape(len(out), -1, 1, 1)}

    def deactivate(self) -> None:
        self.inner.__exit__(None, None, None)


def runner(
    graph: Graph, source: Path, taps: Sequence[str] | None = None, *, timeout: float | None = None
) -> Runner:
    """Reference entry ``dlib-bin`` for descriptors: the final embedding only (dlib's Python
    API taps no layer; per-layer comparison needs the C++ dumper); ``timeout`` is not
    enforceable in process (the report says so)."""
    made = DlibBinDescriptorRunner(graph, source)
    made.timeout_enforced = False
    return made
