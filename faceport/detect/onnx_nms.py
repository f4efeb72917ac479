"""NMS that exports to ONNX ``NonMaxSuppression`` (for whole-detector graphs).

Eager/TorchScript execution runs a vectorised greedy NMS in torch; under
``torch.onnx.export(dynamo=False)`` the ``symbolic`` emits the standard ONNX op, so the
exported detector needs no faceport code at run time.

ONNX semantics (and onnxruntime's): a box is suppressed when its IoU with a kept box is
``> iou_threshold``; boxes with ``score <= score_threshold`` are dropped first; boxes are
corner pairs (``center_point_box=0``). References that measure areas with the inclusive
``+1`` pixel convention are reproduced by passing ``x2 + 1, y2 + 1`` (see
:func:`nms_indices`).
"""

from __future__ import annotations

from typing import Any

import torch


def _greedy(boxes: torch.Tensor, scores: torch.Tensor, iou: float, score: float) -> torch.Tensor:
    keep_mask = scores > score
    idx = torch.nonzero(keep_mask).flatten()
    order = idx[torch.argsort(scores[idx], descending=True, stable=True)]
    kept: list[int] = []
    b = boxes.double()
    while order.numel() > 0:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        lt = torch.maximum(b[i, :2], b[rest, :2])
        rb = torch.minimum(b[i, 2:], b[rest, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        area_i = (b[i, 2:] - b[i, :2]).clamp(min=0).prod()
        area_r = (b[rest, 2:] - b[rest, :2]).clamp(min=0).prod(dim=1)
        union = area_i + area_r - inter
        overlap = torch.where(union > 0, inter / union.clamp(min=1e-300), torch.zeros_like(inter))
        order = rest[overlap <= iou]
    return torch.tensor(kept, dtype=torch.long)


class _NMS(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, boxes: torch.Tensor, scores: torch.Tensor, iou: torch.Tensor, score: torch.Tensor
    ) -> torch.Tensor:
        kept = _greedy(boxes, scores, float(iou), float(score))
        out = torch.zeros((kept.numel(), 3), dtype=torch.long)
        out[:, 2] = kept
        return out

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, iou: Any, score: Any) -> Any:
        max_out = g.op("Constant", value_t=torch.tensor([1 << 30], dtype=torch.long))
        b = g.op("Unsqueeze", boxes, g.op("Constant", value_t=torch.tensor([0])))
        s = g.op(
            "Unsqueeze",
            g.op("Unsqueeze", scores, g.op("Constant", value_t=torch.tensor([0]))),
            g.op("Constant", value_t=torch.tensor([0])),
        )
        iou_1 = g.op("Reshape", iou, g.op("Constant", value_t=torch.tensor([1])))
        score_1 = g.op("Reshape", score, g.op("Constant", value_t=torch.tensor([1])))
        return g.op("NonMaxSuppression", b, s, max_out, iou_1, score_1, center_point_box_i=0)


def nms_indices(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: torch.Tensor,
    score_threshold: torch.Tensor,
    *,
    pixel_offset: float = 0.0,
) -> torch.Tensor:
    """Kept box indices (int64, highest score first). ``boxes`` (N, 4) x1 y1 x2 y2,
    ``scores`` (N,), thresholds as 0-d float tensors (graph inputs when exported)."""
    if pixel_offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + pixel_offset], dim=1)
    selected = _NMS.apply(boxes, scores, iou_threshold, score_threshold)
    return selected[:, 2]
