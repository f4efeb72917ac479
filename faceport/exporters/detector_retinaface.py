"""RetinaFace as one exportable module: uint8 image -> boxes, scores, landmarks.

The image is taken in RGB by default (faceport's one whole-detector contract,
:mod:`faceport.exporters.image_input`), or BGR (the order insightface's ``RetinaFace.detect``
is given: it reads with cv2 and reverses the channels for the ``net3`` models), which the
module flips to the network's RGB; it applies ``(pixel / scale - mean) / std`` and runs the
network. Decode follows :mod:`faceport.detect.retinaface` /
:mod:`faceport.detect.retinaface_anchors` in float32 torch ops: per stride the base anchors
(constants, py-faster-rcnn ``generate_anchors``) are shifted by ``arange`` over the feature
map's own width/height times the stride; boxes ``ctr + d * size`` / ``exp(d) * size`` with
inclusive widths, clipped to ``[0, W-1]`` x ``[0, H-1]``; landmarks ``ctr + d * size``;
``score >= score_threshold``; ONNX ``NonMaxSuppression`` at ``iou_threshold`` in the
"+1 pixel" convention (insightface ``cpu_nms``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from faceport.detect.onnx_nms import nms_indices
from faceport.detect.retinaface_anchors import NET3, AnchorConfig, base_anchors
from faceport.exporters.image_input import check_order, planes


class RetinaFaceWhole(nn.Module):
    """``forward(image (H, W, 3) uint8, score_threshold (), iou_threshold ())``."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        output_index: Sequence[tuple[int, int, int]],
        *,
        configs: Sequence[AnchorConfig] = NET3,
        mean_rgb: Sequence[float] = (0.0, 0.0, 0.0),
        std_rgb: Sequence[float] = (1.0, 1.0, 1.0),
        pixel_scale: float = 1.0,
        flip: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.flip = bool(flip)
        self.output_index = [tuple(int(i) for i in t) for t in output_index]
        self.strides = [int(c.stride) for c in configs]
        self.num_anchors = [int(c.num_anchors) for c in configs]
        for cfg in configs:
            self.register_buffer(f"base_{cfg.stride}", torch.from_numpy(base_anchors(cfg).copy()))
        for name, values in (("mean", mean_rgb), ("std", std_rgb)):  # per channel: (3, 1, 1)
            column = torch.tensor(list(values), dtype=torch.float32)[:, None, None]
            self.register_buffer(name, column)
        self.pixel_scale = float(pixel_scale)

    def forward(
        self, image: torch.Tensor, score_threshold: torch.Tensor, iou_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb = planes(image, self.flip)
        x = ((rgb / self.pixel_scale - self.mean) / self.std).unsqueeze(0)
        outs = self.net(x)
        size = torch._shape_as_tensor(image)
        limit_y = (size[0] - 1).float()
        limit_x = (size[1] - 1).float()
        boxes, scores, marks = [], [], []
        for level, stride in enumerate(self.strides):
            ic, ib, il = self.output_index[level]
            box, score, mark = self._level(
                outs[ic], outs[ib], outs[il], stride, self.num_anchors[level],
                getattr(self, f"base_{stride}"),
            )  # fmt: skip
            limits = (limit_x, limit_y, limit_x, limit_y)
            clipped = [box[:, i].clamp(min=0.0).minimum(limits[i]) for i in range(4)]
            boxes.append(torch.stack(clipped, dim=1))
            scores.append(score)
            marks.append(mark)
        all_boxes, all_scores, all_marks = torch.cat(boxes), torch.cat(scores), torch.cat(marks)
        passed = torch.nonzero(all_scores >= score_threshold).flatten()
        all_boxes, all_scores, all_marks = all_boxes[passed], all_scores[passed], all_marks[passed]
        floor = torch.tensor(-1.0, dtype=torch.float32)  # every passed score is kept for NMS
        keep = nms_indices(all_boxes, all_scores, iou_threshold, floor, pixel_offset=1.0)
        return all_boxes[keep], all_scores[keep], all_marks[keep]

    @staticmethod
    def _level(
        cls: torch.Tensor, bbox: torch.Tensor, lm: torch.Tensor, stride: int, a: int,
        base: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        height, width = bbox.shape[2], bbox.shape[3]
        sx = torch.arange(width, dtype=torch.float32) * stride
        sy = torch.arange(height, dtype=torch.float32) * stride
        gx = sx.unsqueeze(0) + torch.zeros_like(sy).unsqueeze(1)  # (h, w)
        gy = sy.unsqueeze(1) + torch.zeros_like(sx).unsqueeze(0)
        shifts = torch.stack([gx, gy, gx, gy], dim=-1)  # (h, w, 4)
        anchors = (shifts.unsqueeze(2) + base.view(1, 1, a, 4)).reshape(-1, 4)
        score = cls.float()[:, a:].permute(0, 2, 3, 1).reshape(-1)
        deltas = bbox.float().permute(0, 2, 3, 1).reshape(-1, 4)
        widths = anchors[:, 2] - anchors[:, 0] + 1.0
        heights = anchors[:, 3] - anchors[:, 1] + 1.0
        ctr_x = anchors[:, 0] + 0.5 * (widths - 1.0)
        ctr_y = anchors[:, 1] + 0.5 * (heights - 1.0)
        px = deltas[:, 0] * widths + ctr_x
        py = deltas[:, 1] * heights + ctr_y
        pw = torch.exp(deltas[:, 2]) * widths
        ph = torch.exp(deltas[:, 3]) * heights
        box = torch.stack(
            [px - 0.5 * (pw - 1.0), py - 0.5 * (ph - 1.0), px + 0.5 * (pw - 1.0),
             py + 0.5 * (ph - 1.0)], dim=1,
        )  # fmt: skip
        d = lm.float().permute(0, 2, 3, 1).reshape(-1, 5, 2)
        mx = d[:, :, 0] * widths.unsqueeze(1) + ctr_x.unsqueeze(1)
        my = d[:, :, 1] * heights.unsqueeze(1) + ctr_y.unsqueeze(1)
        return box, score, torch.stack([mx, my], dim=-1)


def output_index(
    outputs: Sequence[str], configs: Sequence[AnchorConfig]
) -> list[tuple[int, int, int]]:
    """(cls, bbox, landmark) output positions per level, by insightface's head names."""
    from faceport.errors import ExportError

    found = []
    for cfg in configs:
        row = []
        for kind in ("cls_prob_reshape", "bbox_pred", "landmark_pred"):
            hits = [i for i, n in enumerate(outputs) if n.endswith(f"{kind}_stride{cfg.stride}")]
            if len(hits) != 1:
                raise ExportError(
                    f"RetinaFace head {kind} for stride {cfg.stride} not found exactly once",
                    field="outputs", expected=f"...{kind}_stride{cfg.stride}", found=list(outputs),
                )  # fmt: skip
            row.append(hits[0])
        found.append((row[0], row[1], row[2]))
    return found


def build(
    net: nn.Module, graph: Any, *, size: tuple[int, int] | None = None, input_order: str = "RGB"
) -> tuple[nn.Module, dict[str, Any]]:
    """The whole-detector module for a converted RetinaFace graph (insightface ``net3``)
    (any image size: a fixed ``size`` is honoured by the exporter, which traces at it with
    no dynamic axes)."""
    from faceport.errors import ExportError
    from faceport.kinds import info_of

    pre = info_of(graph).preprocess
    if pre is None or pre.color != "RGB":
        raise ExportError("RetinaFace graph without RGB preprocessing", field="info.preprocess")
    from faceport.detect.retinaface import configs_for

    configs = configs_for(graph)
    order = check_order(input_order)
    module = RetinaFaceWhole(
        net,
        output_index(list(graph.outputs), configs),
        configs=configs,
        mean_rgb=pre.mean,
        std_rgb=pre.std,
        pixel_scale=pre.pixel_scale,
        flip=order != "RGB",
    )
    info = {
        "image_color_order": order,
        "defaults": {"score_threshold": 0.5, "iou_threshold": 0.4},
        "outputs": ["boxes", "scores", "landmarks"],
        "anchors": {str(c.stride): np.asarray(base_anchors(c)).tolist() for c in configs},
        "postprocess": "insightface net3 decode, clip, score >= score_threshold, ONNX "
        "NonMaxSuppression (+1 pixel areas); landmarks (K, 5, 2) x, y",
    }
    return module, info
