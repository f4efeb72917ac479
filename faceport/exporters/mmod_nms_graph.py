"""dlib's MMOD non-maximum suppression as graph ops (no Python control flow on data).

dlib (``loss_mmod_::to_label``, ``test_box_overlap``): candidates sorted by descending score;
a candidate is dropped when it overlaps an already *kept* one, where two rectangles overlap
if ``inner / area(bounding box of both) > iou`` or ``inner / area(a) > percent_covered`` or
``inner / area(b) > percent_covered`` (integer rectangles, inclusive ``+1`` areas; no
overlap when they do not intersect).

The greedy result is the unique solution of ``keep[i] = valid[i] and not any(j < i:
overlaps[i, j] and keep[j])`` (each entry depends only on earlier ones). Iterating that
equation from ``keep = valid`` fixes at least one more leading entry per round and stops
when nothing changes: exactly dlib's result after as many rounds as the longest
suppression chain (a handful on photos), at most ``n + 1``. Scripted, so the ONNX exporter
writes a ``Loop`` whose trip count is data dependent. The comparisons are made as
``inner > t * area`` in float32 (exact for integer areas below 2**24 px).

Candidates: the ``cap`` best scores (``TopK``, ties in index order as dlib's scan) above the
threshold; the cap is recorded in the exported file's metadata.
"""

from __future__ import annotations

import torch


@torch.jit.script
def _overlaps(b: torch.Tensor, iou: torch.Tensor, covered: float) -> torch.Tensor:
    """(n, n) bool: ``test_box_overlap`` of every pair, only ``j < i`` kept (lower triangle)."""
    n = b.shape[0]
    left, top, right, bottom = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    iw = torch.minimum(right[:, None], right[None, :]) - torch.maximum(left[:, None], left[None, :])
    ih = torch.minimum(bottom[:, None], bottom[None, :]) - torch.maximum(top[:, None], top[None, :])
    iw, ih = iw + 1.0, ih + 1.0
    meets = (iw > 0) & (ih > 0)
    inner = iw * ih
    ow = torch.maximum(right[:, None], right[None, :]) - torch.minimum(left[:, None], left[None, :])
    oh = torch.maximum(bottom[:, None], bottom[None, :]) - torch.minimum(top[:, None], top[None, :])
    outer = (ow + 1.0) * (oh + 1.0)
    area = (right - left + 1.0) * (bottom - top + 1.0)
    hit = (
        (inner > iou * outer)
        | (inner > covered * area[:, None])
        | (inner > covered * area[None, :])
    )
    earlier = torch.arange(n)[None, :] < torch.arange(n)[:, None]
    return meets & hit & earlier


@torch.jit.script
def dlib_nms(
    boxes: torch.Tensor, scores: torch.Tensor, score_threshold: torch.Tensor,
    iou_threshold: torch.Tensor, covered: float, cap: int,
) -> torch.Tensor:  # fmt: skip
    """Indices into ``boxes``/``scores`` (N, 4)/(N,) of dlib's kept detections, best first."""
    k = min(cap, scores.shape[0])
    top_scores, order = torch.topk(scores, k)
    valid = top_scores > score_threshold
    n = int(valid.sum())
    order = order[:n]
    overlaps = _overlaps(boxes[order], iou_threshold, covered)
    keep = torch.ones(n, dtype=torch.bool)
    rounds = 0
    changed = True
    while changed and rounds <= n:
        new = ~((overlaps & keep[None, :]).any(dim=1))
        changed = bool((new != keep).any())
        keep = new
        rounds += 1
    return order[keep]
