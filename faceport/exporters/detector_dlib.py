"""dlib MMOD as one exportable module: uint8 RGB image -> boxes, scores (one pyramid level).

Which part of dlib's pipeline is in the graph: **level 0 only** of
``input_rgb_image_pyramid``'s tiled ``pyramid_down<6>`` pyramid. The full pyramid's layout
(how many levels, where each is tiled) is decided by Python loops over the image size and
each level is dlib's own SIMD bilinear resize, neither of which traces to one dynamic-shape
graph; so the exported detector finds faces of the window size (80x80 for dlib's face
detector) and larger ones only if the caller resizes. Upsample the image beforehand
(``pyramid_up``) for smaller faces, as ``upsample_num_times`` does.

In the graph: ``(pixel - mean_rgb) / 256`` placed at ``(outer_padding, outer_padding)`` of a
zero canvas (exactly the tensor dlib builds for a one-level pyramid); the network; every
score ``> score_threshold`` (dlib's ``adjust_threshold``) becomes the window centred at the
layers' composed ``map_output_to_input`` position (an affine map per axis), shifted back by
the padding and rounded half away from zero (``lround``); then NMS.

NMS difference, documented: dlib's ``test_box_overlap`` divides the intersection by the area
of the *bounding box* of both rectangles and also applies a percent-covered test; ONNX
``NonMaxSuppression`` divides by the union. The graph uses ONNX NMS at dlib's threshold on
inclusive (+1) rectangles; union <= bounding box, so ONNX's IoU is the larger and may
suppress a neighbour dlib keeps (tests measure it on real photos).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceport.detect.onnx_nms import nms_indices


class MMODWhole(nn.Module):
    """``forward(image_rgb (H, W, 3) uint8, score_threshold (), iou_threshold ())``."""

    mean: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        *,
        mean_rgb: tuple[float, float, float],
        outer_padding: int,
        scale_xy: tuple[float, float],
        offset_xy: tuple[float, float],
        windows: list[tuple[int, int]],
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean_rgb), dtype=torch.float32))
        self.pad = int(outer_padding)
        self.scale_xy = (float(scale_xy[0]), float(scale_xy[1]))
        self.offset_xy = (float(offset_xy[0]), float(offset_xy[1]))
        self.windows = [(int(w), int(h)) for w, h in windows]

    def forward(
        self, image: torch.Tensor, score_threshold: torch.Tensor, iou_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((image.float() - self.mean) / 256.0).permute(2, 0, 1).unsqueeze(0)
        x = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        out = self.net(x)
        height, width = out.shape[2], out.shape[3]
        ys = torch.arange(height, dtype=torch.float32) * self.scale_xy[1] + self.offset_xy[1]
        xs = torch.arange(width, dtype=torch.float32) * self.scale_xy[0] + self.offset_xy[0]
        py = (ys.unsqueeze(1) + torch.zeros_like(xs).unsqueeze(0)).reshape(-1) - self.pad
        px = (xs.unsqueeze(0) + torch.zeros_like(ys).unsqueeze(1)).reshape(-1) - self.pad
        boxes, scores = [], []
        for k, (w, h) in enumerate(self.windows):
            hw, hh = (w - 1) / 2.0, (h - 1) / 2.0
            rect = torch.stack([px - hw, py - hh, px + hw, py + hh], dim=1)
            boxes.append(torch.sign(rect) * torch.floor(rect.abs() + 0.5))
            scores.append(out[0, k].reshape(-1).float())
        all_boxes, all_scores = torch.cat(boxes), torch.cat(scores)
        keep = nms_indices(all_boxes, all_scores, iou_threshold, score_threshold, pixel_offset=1.0)
        return all_boxes[keep], all_scores[keep]


def composed_map(maps: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """The layers' output->input maps composed into one ``p * scale + offset`` per axis."""
    from faceport.detect.mmod_decode import map_to_input

    x0, y0 = map_to_input(maps, np.array([0.0]), np.array([0.0]))
    x1, y1 = map_to_input(maps, np.array([1.0]), np.array([1.0]))
    return (float(x1[0] - x0[0]), float(y1[0] - y0[0])), (float(x0[0]), float(y0[0]))


def build(net: nn.Module, graph: Any) -> tuple[nn.Module, dict[str, Any]]:
    """The one-level whole-detector module for a converted dlib MMOD graph."""
    from faceport.detect.mmod import MMODDetector

    det = MMODDetector(graph)
    if det.options.use_bounding_box_regression:
        from faceport.errors import ExportError

        raise ExportError("MMOD bounding-box regression is not in the exported detector yet",
                          field="info.head.options.use_bounding_box_regression")  # fmt: skip
    scale, offset = composed_map(det.maps)
    module = MMODWhole(
        net,
        mean_rgb=det.mean_rgb,
        outer_padding=det.outer_padding,
        scale_xy=scale,
        offset_xy=offset,
        windows=[(w.width, w.height) for w in det.options.windows],
    )
    info = {
        "image_color_order": "RGB",
        "defaults": {"score_threshold": 0.0, "iou_threshold": det.options.nms_iou_thresh},
        "outputs": ["boxes", "scores"],
        "pyramid": "single level: level 0 of dlib's tiled pyramid (no pyramid_down levels)",
        "postprocess": "MMOD windows at map_output_to_input positions, lround, ONNX "
        "NonMaxSuppression on inclusive rectangles (dlib divides by the bounding box, "
        "ONNX by the union); boxes are dlib rectangles left, top, right, bottom (inclusive)",
    }
    return module, info


def single_level_reference(graph: Any, image_rgb: np.ndarray, adjust_threshold: float = 0.0) -> Any:
    """faceport's Python MMOD pipeline restricted to pyramid level 0 (what the graph does),
    with dlib's own NMS: the reference the exported detector is compared with."""
    from faceport.detect.mmod import MMODDetector
    from faceport.detect.mmod_decode import mmod_nms, tensor_to_dets
    from faceport.detect.mmod_pyramid import TiledPyramid, image_to_tensor
    from faceport.detect.types import Detections

    det = MMODDetector(graph)
    full, layout = image_to_tensor(
        image_rgb, det.mean_rgb, padding=det.padding, outer_padding=det.outer_padding,
        down=det.pyramid_down,
    )  # fmt: skip
    h, w = image_rgb.shape[:2]
    pad = det.outer_padding
    tensor = np.zeros((1, 3, h + 2 * pad, w + 2 * pad), dtype=np.float32)
    tensor[:, :, pad : pad + h, pad : pad + w] = full[:, :, pad : pad + h, pad : pad + w]
    one = TiledPyramid((layout.rects[0],), h + 2 * pad, w + 2 * pad, layout.down)
    raw = tensor_to_dets(det.forward(tensor), det.options, det.maps, one, adjust_threshold)
    keep = mmod_nms(raw.boxes, det.options.nms_iou_thresh, det.options.nms_percent_covered_thresh)
    return Detections(raw.boxes[keep].reshape(-1, 4), raw.scores[keep].astype(np.float64))
