"""Comparison results as values: tensors, detections and descriptors.

Each ``compare_*`` function returns a frozen result with ``bool()`` (within tolerance) and a
one-line ``str()``; tests, the CLI and reports all use these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceport.tolerance import Tolerance, tolerance_for


@dataclass(frozen=True)
class OutputCompareResult:
    """Elementwise comparison of one output (shapes must agree)."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    mean_abs: float
    p50_abs: float
    p99_abs: float
    ref_scale: float
    mismatches: int
    total: int
    worst_index: tuple[int, ...]
    worst_ref: float
    worst_out: float
    tolerance: Tolerance
    shape_mismatch: str | None = None

    def __bool__(self) -> bool:
        return self.shape_mismatch is None and self.mismatches == 0

    @property
    def rel_to_scale(self) -> float:
        """max-abs error divided by the reference's max magnitude."""
        return self.max_abs / self.ref_scale if self.ref_scale > 0 else self.max_abs

    def __str__(self) -> str:
        if self.shape_mismatch is not None:
            return f"FAIL {self.name}: {self.shape_mismatch}"
        verdict = "PASS" if self else "FAIL"
        return (
            f"{verdict} {self.name} {list(self.shape)}: max-abs {self.max_abs:.3g} "
            f"(x{self.rel_to_scale:.3g} of max|ref| {self.ref_scale:.3g}), "
            f"max-rel {self.max_rel:.3g}, mismatches {self.mismatches}/{self.total} "
            f"[{self.tolerance}]; worst at {list(self.worst_index)}: "
            f"ref {self.worst_ref:.6g} vs {self.worst_out:.6g}"
        )

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "tolerance"}
        data["shape"] = list(self.shape)
        data["worst_index"] = list(self.worst_index)
        data["passed"] = bool(self)
        data["tolerance"] = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol}
        return data


def compare_arrays(
    name: str, ref: np.ndarray, out: np.ndarray, tolerance: Tolerance | None = None
) -> OutputCompareResult:
    """Compare ``out`` against ``ref`` with ``tolerance`` (default: float32 CPU)."""
    tol = tolerance or tolerance_for()
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64)
    if ref.shape != out.shape:
        return OutputCompareResult(
            name,
            tuple(ref.shape),
            np.inf,
            np.inf,
            np.inf,
            np.inf,
            np.inf,
            0.0,
            ref.size,
            ref.size,
            (),
            np.nan,
            np.nan,
            tol,
            shape_mismatch=f"shape {list(out.shape)} != reference {list(ref.shape)}",
        )
    if ref.size == 0:
        return OutputCompareResult(
            name, tuple(ref.shape), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, (), 0.0, 0.0, tol
        )
    with np.errstate(invalid="ignore", over="ignore"):
        return _compare_finite(name, ref, out, tol)


def _compare_finite(
    name: str, ref: np.ndarray, out: np.ndarray, tol: Tolerance
) -> OutputCompareResult:
    diff = np.abs(out - ref)
    diff = np.where(np.isnan(ref) & np.isnan(out), 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)
    mag = np.abs(ref)
    scale = float(np.max(np.where(np.isfinite(mag), mag, 0.0)))
    atol = tol.atol * (scale if tol.relative_to_scale and scale > 0 else 1.0)
    bad = diff > atol + tol.rtol * mag
    rel = diff / np.maximum(mag, np.finfo(np.float32).tiny)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return OutputCompareResult(
        name=name,
        shape=tuple(ref.shape),
        max_abs=float(diff.max()),
        max_rel=float(np.max(np.where(mag > 0, rel, np.where(diff > 0, np.inf, 0.0)))),
        mean_abs=float(diff.mean()),
        p50_abs=float(np.percentile(diff, 50)),
        p99_abs=float(np.percentile(diff, 99)),
        ref_scale=scale,
        mismatches=int(bad.sum()),
        total=int(ref.size),
        worst_index=tuple(int(i) for i in worst),
        worst_ref=float(ref[worst]),
        worst_out=float(out[worst]),
        tolerance=tol,
    )


@dataclass(frozen=True)
class CompareResult:
    """All outputs of two runners on one input."""

    reference: str
    candidate: str
    outputs: tuple[OutputCompareResult, ...]
    missing: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return not self.missing and all(self.outputs)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    def __str__(self) -> str:
        head = f"{self.candidate} vs {self.reference}: {'PASS' if self else 'FAIL'}"
        lines = [head, *(f"  {o}" for o in self.outputs)]
        lines += [f"  FAIL {name}: missing from {self.candidate}" for name in self.missing]
        return "\n".join(lines)


def compare_outputs(
    reference: str,
    ref: Mapping[str, np.ndarray],
    candidate: str,
    out: Mapping[str, np.ndarray],
    tolerance: Tolerance | None = None,
) -> CompareResult:
    """Compare every output the reference has, by name."""
    results = tuple(compare_arrays(k, ref[k], out[k], tolerance) for k in ref if k in out)
    missing = tuple(k for k in ref if k not in out)
    return CompareResult(reference, candidate, results, missing)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4) as (x1, y1, x2, y2)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@dataclass(frozen=True)
class DetectionCompareResult:
    """Detections of a candidate matched one-to-one (greedy by IoU) to a reference's."""

    n_ref: int
    n_out: int
    matched: int
    min_iou: float
    mean_iou: float
    max_dscore: float
    max_landmark_px: float | None
    iou_threshold: float
    min_iou_required: float
    max_dscore_allowed: float
    ious: tuple[float, ...] = field(default=())

    @property
    def recall(self) -> float:
        return self.matched / self.n_ref if self.n_ref else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.n_out if self.n_out else 1.0

    def __bool__(self) -> bool:
        return (
            self.n_ref == self.n_out == self.matched
            and (self.matched == 0 or self.min_iou >= self.min_iou_required)
            and self.max_dscore <= self.max_dscore_allowed
        )

    def __str__(self) -> str:
        lm = "" if self.max_landmark_px is None else f", landmark err {self.max_landmark_px:.3g}px"
        return (
            f"{'PASS' if self else 'FAIL'} detections: ref {self.n_ref}, out {self.n_out}, "
            f"matched {self.matched} (recall {self.recall:.3f}, precision {self.precision:.3f}), "
            f"IoU min {self.min_iou:.4f} mean {self.mean_iou:.4f}, "
            f"max |dscore| {self.max_dscore:.3g}{lm}"
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["ious"] = list(self.ious)
        data.update(recall=self.recall, precision=self.precision, passed=bool(self))
        return data


def compare_detections(
    ref_boxes: np.ndarray,
    ref_scores: np.ndarray,
    out_boxes: np.ndarray,
    out_scores: np.ndarray,
    *,
    ref_landmarks: np.ndarray | None = None,
    out_landmarks: np.ndarray | None = None,
    match_iou: float = 0.5,
    min_iou: float = 0.99,
    max_dscore: float = 1e-3,
) -> DetectionCompareResult:
    """Greedy one-to-one matching by IoU (pairs below ``match_iou`` stay unmatched)."""
    iou = box_iou(ref_boxes, out_boxes)
    pairs: list[tuple[int, int, float]] = []
    if iou.size:
        work = iou.copy()
        while True:
            i, j = np.unravel_index(int(np.argmax(work)), work.shape)
            if work[i, j] < match_iou:
                break
            pairs.append((int(i), int(j), float(iou[i, j])))
            work[i, :] = -1
            work[:, j] = -1
    ious = tuple(p[2] for p in pairs)
    rs = np.asarray(ref_scores, dtype=np.float64).reshape(-1)
    os_ = np.asarray(out_scores, dtype=np.float64).reshape(-1)
    dscore = max((abs(rs[i] - os_[j]) for i, j, _ in pairs), default=0.0)
    lm_err: float | None = None
    if ref_landmarks is not None and out_landmarks is not None:
        rl = np.asarray(ref_landmarks, dtype=np.float64)
        ol = np.asarray(out_landmarks, dtype=np.float64)
        lm_err = max(
            (float(np.max(np.linalg.norm(rl[i] - ol[j], axis=-1))) for i, j, _ in pairs),
            default=0.0,
        )
    return DetectionCompareResult(
        n_ref=len(rs),
        n_out=len(os_),
        matched=len(pairs),
        min_iou=min(ious, default=1.0),
        mean_iou=float(np.mean(ious)) if ious else 1.0,
        max_dscore=float(dscore),
        max_landmark_px=lm_err,
        iou_threshold=match_iou,
        min_iou_required=min_iou,
        max_dscore_allowed=max_dscore,
        ious=ious,
    )


@dataclass(frozen=True)
class DescriptorCompareResult:
    """Embedding vectors compared by cosine similarity and L2 distance."""

    cosine: float
    l2: float
    ref_norm: float
    min_cosine: float
    max_l2: float

    def __bool__(self) -> bool:
        return self.cosine >= self.min_cosine and self.l2 <= self.max_l2

    def __str__(self) -> str:
        return (
            f"{'PASS' if self else 'FAIL'} descriptor: cosine {self.cosine:.7f} "
            f"(>= {self.min_cosine}), |dL2| {self.l2:.3g} (<= {self.max_l2:g}), "
            f"|ref| {self.ref_norm:.4g}"
        )


def compare_descriptors(
    ref: np.ndarray, out: np.ndarray, *, min_cosine: float = 0.9999, max_l2: float = 1e-3
) -> DescriptorCompareResult:
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    o = np.asarray(out, dtype=np.float64).reshape(-1)
    denom = float(np.linalg.norm(r) * np.linalg.norm(o))
    cosine = float(r @ o / denom) if denom > 0 else (1.0 if not r.any() and not o.any() else 0.0)
    return DescriptorCompareResult(
        cosine, float(np.linalg.norm(r - o)), float(np.linalg.norm(r)), min_cosine, max_l2
    )
