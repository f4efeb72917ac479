"""The INT8 gate: a quantised network against its fp32 export, on images not used to calibrate.

Detectors are compared at detection level: the model kind's own detector runs twice on every
check image, once with the fp32 ONNX network and once with the int8 one (onnxruntime, same
pre- and post-processing), and the int8 detections are matched one to one to the fp32 ones
(IoU >= 0.5, :func:`faceport.verify.compare.compare_detections`); the gate is on recall and
precision over all images. Other kinds are compared output by output: the cosine similarity of
each int8 output with fp32, the gate on its minimum. A check with no fp32 detection (or no
image) compared nothing: it is "not verified", never a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceport.ir import Graph

#: defaults of the gate per measure (issue "Exports that ship": INT8 recall and precision
#: >= 0.97 against fp32); descriptors and plain networks: cosine similarity of the outputs
DETECTION_GATE = 0.97
TENSOR_GATE = 0.99


@dataclass(frozen=True)
class GateResult:
    """What the int8 file achieved against fp32 on the check images, and whether it passes."""

    measure: str  # "detections" or "cosine"
    images: int
    required: float
    recall: float = float("nan")
    precision: float = float("nan")
    fp32_detections: int = 0
    int8_detections: int = 0
    matched: int = 0
    min_cosine: float = float("nan")

    @property
    def compared(self) -> bool:
        return self.images > 0 and (self.measure != "detections" or self.fp32_detections > 0)

    @property
    def score(self) -> float:
        """The number the gate is on (the worse of recall and precision for detections)."""
        if self.measure == "detections":
            return min(self.recall, self.precision)
        return self.min_cosine

    @property
    def passed(self) -> bool:
        return self.compared and self.score >= self.required

    @property
    def shortfall(self) -> float:
        return max(0.0, self.required - self.score) if self.compared else float("nan")

    def __str__(self) -> str:
        if not self.compared:
            what = "no image" if self.images == 0 else "no fp32 detection"
            return f"INT8 gate NOT VERIFIED: {what} to compare on ({self.images} check images)"
        verdict = "PASS" if self.passed else f"FAIL (short by {self.shortfall:.4f})"
        if self.measure == "detections":
            return (f"INT8 gate {verdict}: recall {self.recall:.4f}, precision "
                    f"{self.precision:.4f} ({self.matched} of {self.fp32_detections} fp32 "
                    f"detections matched, {self.int8_detections} int8) on {self.images} check "
                    f"images; required >= {self.required}")  # fmt: skip
        return (f"INT8 gate {verdict}: min output cosine similarity {self.min_cosine:.5f} on "
                f"{self.images} check images; required >= {self.required}")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure, "images": self.images, "required": self.required,
            "passed": self.passed, "compared": self.compared, "recall": self.recall,
            "precision": self.precision, "fp32_detections": self.fp32_detections,
            "int8_detections": self.int8_detections, "matched": self.matched,
            "min_cosine": self.min_cosine,
        }  # fmt: skip


class SessionNetwork:
    """An onnxruntime session behind the lowered module's calling convention (torch tensor in,
    a tensor or a tuple of tensors out), for :meth:`Detector.use_network`."""

    def __init__(self, path: Path, **settings: Any) -> None:
        from faceport.ort_session import open_session

        self.session = open_session(path, **settings)  # faceport.ort_session's settings
        self.input = self.session.get_inputs()[0].name

    def to(self, device: str) -> SessionNetwork:
        return self

    def __call__(self, x: Any) -> Any:
        import torch

        outs = self.session.run(None, {self.input: x.detach().cpu().numpy()})
        tensors = tuple(torch.from_numpy(np.asarray(o)) for o in outs)
        return tensors[0] if len(tensors) == 1 else tensors


def check_int8(
    graph: Graph, fp32: Path, int8: Path, images: Sequence[np.ndarray], *,
    required: float | None = None,
) -> GateResult:  # fmt: skip
    """The gate result of ``int8`` against ``fp32`` on ``images`` (uint8 RGB)."""
    from faceport.kinds import detector

    fp32_detector = detector(graph)
    if fp32_detector is not None:
        int8_detector = detector(graph)
        assert int8_detector is not None
        fp32_detector.use_network(SessionNetwork(fp32))
        int8_detector.use_network(SessionNetwork(int8))
        with fp32_detector, int8_detector:
            return _detections(fp32_detector, int8_detector, images,
                               DETECTION_GATE if required is None else required)  # fmt: skip
    return _tensors(graph, fp32, int8, images, TENSOR_GATE if required is None else required)


def _detections(
    fp32: Any, int8: Any, images: Sequence[np.ndarray], required: float
) -> GateResult:
    from faceport.verify.compare import compare_detections

    ref_n = out_n = matched = 0
    for image in images:
        a, b = fp32(image), int8(image)
        result = compare_detections(a.boxes, a.scores, b.boxes, b.scores)
        ref_n, out_n, matched = ref_n + result.n_ref, out_n + result.n_out, matched + result.matched
    return GateResult(
        "detections", len(images), required,
        recall=matched / ref_n if ref_n else float("nan"),
        precision=matched / out_n if out_n else (1.0 if ref_n == 0 else 0.0),
        fp32_detections=ref_n, int8_detections=out_n, matched=matched,
    )  # fmt: skip


def _tensors(
    graph: Graph, fp32: Path, int8: Path, images: Sequence[np.ndarray], required: float
) -> GateResult:
    from faceport.kinds import feed
    from faceport.ort_session import open_session

    ref, got = open_session(fp32), open_session(int8)
    worst = float("inf")
    for image in images:
        fed = feed(graph, image)
        for a, b in zip(ref.run(None, fed), got.run(None, fed)):
            a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
            norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
            cosine = float(a64 @ b64 / norm) if norm > 0 else float(np.array_equal(a64, b64))
            worst = min(worst, cosine)
    return GateResult("cosine", len(images), required,
                      min_cosine=worst if images else float("nan"))  # fmt: skip
