"""S3FD as one exportable module: uint8 image (RGB by default, or BGR) -> boxes, scores.

The steps are those of :mod:`faceport.detect.s3fd` (SFD_pytorch ``detect.py``) written in
torch ops that trace with symbolic shapes: the image in BGR (an RGB input is flipped,
:mod:`faceport.exporters.image_input`) minus (104, 117, 123); per level the face
probability ``softmax(conf)[1]``; anchors (cx, cy, side) = (stride/2 + x*stride, stride/2 +
y*stride, 4*stride) from ``arange`` over the feature map's own height and width; SSD decode
with variances (0.1, 0.2); ONNX ``NonMaxSuppression`` at ``iou_threshold`` over the
candidates with probability > ``candidate_threshold`` (0.05, an attribute) in the inclusive
"+1 pixel" convention; then ``score >= score_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from faceport.detect.onnx_nms import nms_indices
from faceport.exporters.image_input import check_order, planes
from faceport.kinds.s3fd import ANCHOR_SCALE, STRIDES, VARIANCES, S3FDDecode


class S3FDWhole(nn.Module):
    """``forward(image (H, W, 3) uint8, score_threshold (), iou_threshold ())``."""

    mean: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        *,
        mean_bgr: Sequence[float],
        strides: Sequence[int] = STRIDES,
        anchor_scale: int = ANCHOR_SCALE,
        variances: Sequence[float] = VARIANCES,
        candidate_threshold: float = 0.05,
        flip: bool = True,
    ) -> None:
        super().__init__()
        self.net = net
        self.flip = bool(flip)
        mean = torch.tensor(list(mean_bgr), dtype=torch.float32)[:, None, None]
        self.register_buffer("mean", mean)
        self.strides = [int(s) for s in strides]
        self.anchor_scale = int(anchor_scale)
        self.variances = (float(variances[0]), float(variances[1]))
        self.candidate_threshold = float(candidate_threshold)

    def forward(
        self, image: torch.Tensor, score_threshold: torch.Tensor, iou_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = (planes(image, self.flip) - self.mean).unsqueeze(0)
        outs = self.net(x)
        boxes, scores = [], []
        for level, stride in enumerate(self.strides):
            box, score = self._level(outs[2 * level], outs[2 * level + 1], stride)
            boxes.append(box)
            scores.append(score)
        all_boxes = torch.cat(boxes)
        all_scores = torch.cat(scores)
        candidate = torch.tensor(self.candidate_threshold, dtype=torch.float32)
        keep = nms_indices(all_boxes, all_scores, iou_threshold, candidate, pixel_offset=1.0)
        kept_boxes, kept_scores = all_boxes[keep], all_scores[keep]
        final = torch.nonzero(kept_scores >= score_threshold).flatten()
        return kept_boxes[final], kept_scores[final]

    def _level(
        self, conf: torch.Tensor, loc: torch.Tensor, stride: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prob = torch.softmax(conf.float(), dim=1)[0, 1].reshape(-1)
        height, width = conf.shape[2], conf.shape[3]
        ys = torch.arange(height, dtype=torch.float32) * stride + stride / 2
        xs = torch.arange(width, dtype=torch.float32) * stride + stride / 2
        cy = (ys.unsqueeze(1) + torch.zeros_like(xs).unsqueeze(0)).reshape(-1)
        cx = (xs.unsqueeze(0) + torch.zeros_like(ys).unsqueeze(1)).reshape(-1)
        side = float(stride * self.anchor_scale)
        d = loc.float()[0].reshape(4, -1)
        centre_x = cx + d[0] * self.variances[0] * side
        centre_y = cy + d[1] * self.variances[0] * side
        w = side * torch.exp(d[2] * self.variances[1])
        h = side * torch.exp(d[3] * self.variances[1])
        x1 = centre_x - w / 2
        y1 = centre_y - h / 2
        return torch.stack([x1, y1, x1 + w, y1 + h], dim=1), prob


def build(
    net: nn.Module, graph: Any, *, size: tuple[int, int] | None = None, input_order: str = "RGB"
) -> tuple[nn.Module, dict[str, Any]]:
    """The whole-detector module for a converted S3FD graph, and what to record about it
    (any image size: a fixed ``size`` is honoured by the exporter, which traces at it with
    no dynamic axes)."""
    from faceport.detect.s3fd import mean_of
    from faceport.kinds import info_of

    decode = S3FDDecode.of(info_of(graph))
    order = check_order(input_order)
    module = S3FDWhole(
        net,
        mean_bgr=mean_of(graph),
        strides=decode.strides,
        anchor_scale=decode.anchor_scale,
        variances=decode.variances,
        candidate_threshold=decode.candidate_threshold,
        flip=order != "BGR",
    )
    info = {
        "image_color_order": order,
        "defaults": {
            "score_threshold": decode.score_threshold,
            "iou_threshold": decode.nms_iou,
        },
        "outputs": ["boxes", "scores"],
        "postprocess": "softmax, SSD decode (variances 0.1/0.2), candidates > "
        f"{module.candidate_threshold}, ONNX NonMaxSuppression (+1 pixel areas), "
        "score >= score_threshold",
    }
    return module, info
