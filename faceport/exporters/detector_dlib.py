"""dlib MMOD as one exportable module for a fixed image size: uint8 image -> boxes, scores.

The whole of ``cnn_face_detection_model_v1.__call__(image, upsample_num_times)`` is in the
graph, for an image of ``H x W`` (the export's ``--input-size``; dlib's pyramid layout is a
function of the size, so a dynamic-size export is refused with a message naming it):

1. ``upsample_num_times`` x ``pyramid_up`` and ``input_rgb_image_pyramid::to_tensor`` (every
   ``pyramid_down<N>`` level of the tiled pyramid), from constant plans
   (:mod:`faceport.exporters.mmod_pyramid_graph`): the canvas is bit-identical to dlib's;
2. the network, once over the canvas;
3. ``tensor_to_dets``: for a fixed size every score-map position's final rectangle (window
   centred at the layers' ``map_output_to_input`` point, its nearest pyramid level,
   ``point_up`` per level, ``lround``, then ``rect_down`` per upsampling) is a constant,
   computed here by :func:`faceport.detect.mmod_decode.tensor_to_dets` itself, so only the
   scores vary at run time;
4. dlib's NMS (bounding-box overlap and percent covered, :mod:`.mmod_nms_graph`).

Boxes are dlib rectangles ``left, top, right, bottom`` (inclusive), float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from faceport.errors import ExportError
from faceport.exporters.image_input import check_order
from faceport.exporters.mmod_nms_graph import dlib_nms
from faceport.exporters.mmod_pyramid_graph import PyramidInput

#: default cap on NMS candidates (scores above the threshold, best first); dlib has none.
#: On the fixture photos at threshold 0 the most was 120 (bald_guys.jpg, 24 faces).
MAX_CANDIDATES = 1000
#: build options beyond the image size (faceport.exporters.detector.detector_module)
EXTRAS = frozenset({"upsample", "max_candidates"})


class MMODWhole(nn.Module):
    """``forward(image (H, W, 3) uint8 (RGB unless exported for BGR), score_threshold (),
    iou_threshold ())``."""

    boxes: torch.Tensor

    def __init__(
        self, net: nn.Module, pyramid: PyramidInput, boxes: np.ndarray, k: int, *,
        percent_covered: float, max_candidates: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.pyramid = pyramid
        self.net = net
        self.k = int(k)
        self.register_buffer("boxes", torch.from_numpy(np.asarray(boxes, dtype=np.float32)))
        self.covered = float(percent_covered)
        self.cap = int(max_candidates)

    def forward(
        self, image: torch.Tensor, score_threshold: torch.Tensor, iou_threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(self.pyramid(image))
        scores = out[0, : self.k].reshape(-1)
        keep = dlib_nms(self.boxes, scores, score_threshold, iou_threshold, self.covered, self.cap)
        return self.boxes[keep], scores[keep]


def plan(det: Any, size: tuple[int, int], upsample: int) -> tuple[Any, list[tuple[int, int]]]:
    """(tiled pyramid layout, image sizes through the ``upsample`` pyramid_up steps) for an
    image of ``size`` (H, W) and an :class:`~faceport.detect.mmod.MMODDetector` ``det``."""
    from faceport.detect.mmod_pyramid import pyramid_up_size, tiled_pyramid_layout

    sizes = [(int(size[0]), int(size[1]))]
    for _ in range(upsample):
        sizes.append(pyramid_up_size(*sizes[-1]))
    layout = tiled_pyramid_layout(
        *sizes[-1], padding=det.padding, outer_padding=det.outer_padding, down=det.pyramid_down
    )
    if not layout.rects:
        raise ExportError("the image size is too small for dlib's input pyramid",
                          field="input_size", found=f"{size[1]}x{size[0]}")  # fmt: skip
    return layout, sizes


def final_rectangles(net: nn.Module, det: Any, layout: Any, upsample: int) -> np.ndarray:
    """(K*h*w, 4) the image rectangle of every score-map position, in dlib's scan order."""
    from faceport.detect.mmod_decode import tensor_to_dets
    from faceport.detect.mmod_pyramid import rect_down_2

    try:
        with torch.no_grad():
            probe = net(torch.zeros(1, 3, layout.rows, layout.cols))
    except RuntimeError as exc:  # a kernel larger than the canvas
        raise ExportError(
            f"the image size is too small for the network: {str(exc).splitlines()[0]}",
            field="input_size", found=f"{layout.cols}x{layout.rows} canvas",
        ) from exc
    ones = np.ones((len(det.options.windows), *probe.shape[2:]), dtype=np.float32)
    # equal scores: tensor_to_dets' stable sort keeps the scan order (k, r, c)
    raw = tensor_to_dets(ones, det.options, det.maps, layout, adjust_threshold=0.0)
    return rect_down_2(raw.boxes, upsample)


def build(
    net: nn.Module, graph: Any, *, size: tuple[int, int] | None = None, input_order: str = "RGB",
    upsample: int = 0, max_candidates: int = MAX_CANDIDATES,
) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """The whole-detector module for a converted dlib MMOD graph at image ``size`` (H, W)."""
    from faceport.detect.mmod import MMODDetector

    if size is None:
        raise ExportError(
            "dlib's MMOD pyramid layout depends on the image size: export the whole detector "
            "for a fixed size with --input-size WxH (e.g. --input-size 640x480)",
            field="input_size", expected="WxH", found="dynamic",
        )  # fmt: skip
    if upsample < 0 or max_candidates < 1:
        raise ExportError("upsample must be >= 0 and max_candidates >= 1", field="upsample",
                          found=(upsample, max_candidates))  # fmt: skip
    det = MMODDetector(graph)
    if det.options.use_bounding_box_regression:
        raise ExportError("MMOD bounding-box regression is not in the exported detector yet",
                          field="info.head.options.use_bounding_box_regression")  # fmt: skip
    layout, sizes = plan(det, size, upsample)
    boxes = final_rectangles(net, det, layout, upsample)
    order = check_order(input_order)
    pyramid = PyramidInput(layout, det.mean_rgb, sizes, flip=order != "RGB")
    module = MMODWhole(
        net, pyramid, boxes, len(det.options.windows),
        percent_covered=det.options.nms_percent_covered_thresh, max_candidates=max_candidates,
    )  # fmt: skip
    info = {
        "image_color_order": order,
        "defaults": {"score_threshold": 0.0, "iou_threshold": det.options.nms_iou_thresh},
        "outputs": ["boxes", "scores"],
        "pyramid": f"dlib's tiled pyramid_down<{det.pyramid_down}>: {len(layout.rects)} levels "
        f"on a {layout.cols}x{layout.rows} canvas, after {upsample} pyramid_up",
        "postprocess": "dlib tensor_to_dets (constant rectangle per score-map position) and "
        f"dlib NMS (bounding-box overlap > iou_threshold or percent covered > "
        f"{det.options.nms_percent_covered_thresh}); boxes are dlib rectangles left, top, "
        "right, bottom (inclusive)",
        "upsample_num_times": upsample,
        "max_candidates": max_candidates,
    }
    return module, info
