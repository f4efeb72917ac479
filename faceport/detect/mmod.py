"""dlib's MMOD CNN detector (``cnn_face_detection_model_v1``) over a converted graph.

The pipeline is dlib's, step by step (each step's exact semantics are documented where it
is implemented):

1. ``upsample_num_times`` x ``pyramid_up`` (``pyramid_down<2>``) of the uint8 RGB image
   (:func:`faceport.detect.mmod_pyramid.pyramid_up`), as ``cnn_face_detector.cpp`` does;
2. ``input_rgb_image_pyramid::to_tensor``: tiled ``pyramid_down<N>`` pyramid, mean
   subtracted and scaled by 1/256 (:func:`faceport.detect.mmod_pyramid.image_to_tensor`);
3. one forward pass of the lowered graph;
4. ``loss_mmod_::to_label``: ``tensor_to_dets`` over every detector window, mapping back
   through the network and the pyramid, dlib's NMS
   (:mod:`faceport.detect.mmod_decode`);
5. ``pyramid_down<2>::rect_down`` of each box ``upsample_num_times`` times (rounded).

Boxes are dlib ``rectangle`` s: ``left, top, right, bottom`` with inclusive right/bottom.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.mmod_decode import (
    MMODOptions,
    mmod_nms,
    output_to_input_maps,
    tensor_to_dets,
)
from faceport.detect.mmod_pyramid import image_to_tensor, pyramid_up, rect_down_2
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import info_of

log = logging.getLogger(__name__)


class MMODDetector(Detector):
    """``detector(image_rgb_uint8, DetectOptions(upsample=0, score_threshold=0.0))``.

    ``graph`` is a converted dlib ``loss_mmod`` network whose input layer is
    ``input_rgb_image_pyramid``. ``options`` overrides the ``mmod_options`` read from the
    model (needed for ``net_to_xml`` files, which do not carry them). Contract options:
    ``score_threshold`` (dlib's ``adjust_threshold``, default 0), ``upsample``
    (``upsample_num_times``, default 0), ``nms_iou`` (default: the model's
    ``overlaps_nms`` IoU).
    """

    title = "dlib MMOD detector"
    takes = frozenset({"score_threshold", "upsample", "nms_iou"})

    def __init__(
        self, graph: Graph, device: str = "cpu", *, options: MMODOptions | None = None
    ) -> None:
        info = info_of(graph)
        inp, pre = info.input, info.preprocess
        if inp is None or inp.layer != "input_rgb_image_pyramid" or inp.pyramid is None:
            raise FaceportError(
                "not an MMOD detector network", field="info.input.layer",
                expected="input_rgb_image_pyramid", found=None if inp is None else inp.layer,
            )
        if pre is None:
            raise FaceportError("input layer has no channel means", field="info.preprocess",
                                expected="r, g, b (or avg_red, avg_green, avg_blue)")  # fmt: skip
        self.graph = graph
        self.device = device
        self.mean_rgb = pre.mean
        self.padding = inp.pyramid.padding
        self.outer_padding = inp.pyramid.outer_padding
        self.pyramid_down = inp.pyramid.down
        head = info.head.options if info.head is not None else {}
        self.options = options or MMODOptions.from_loss_meta(head)
        self.maps = output_to_input_maps(graph)
        self._module: Any = None
        self._canvas = threading.local()  # per-thread tensor reused by __call__

    def module(self) -> Any:
        """The lowered ``torch.fx.GraphModule`` (built on first use)."""
        if self._module is None:
            from faceport.lower import lower

            self._module = lower(self.graph).to(self.device)
        return self._module

    def forward(self, tensor: np.ndarray) -> np.ndarray:
        """Run the network on an input tensor (1, 3, H, W); returns (K, h, w) float32."""
        import torch

        with torch.inference_mode():
            out = self.module()(torch.from_numpy(tensor).to(self.device))
        return np.asarray(out[0].float().cpu().numpy())

    def to_tensor(
        self, image: np.ndarray, *, reuse: bool = False
    ) -> tuple[np.ndarray, Any]:
        """``input_rgb_image_pyramid::to_tensor`` (tensor (1, 3, H, W) and its layout).

        ``reuse=True`` writes into this thread's tensor from the previous call when the
        layout is the same (the detector's own calls use it; the result is then only valid
        until the next such call)."""
        held = getattr(self._canvas, "tensor", None) if reuse else None
        tensor, layout = image_to_tensor(
            image, self.mean_rgb, padding=self.padding, outer_padding=self.outer_padding,
            down=self.pyramid_down, canvas=held,
        )
        if reuse:
            self._canvas.tensor = tensor
        return tensor, layout

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        upsample = int(pick(options.upsample, 0))
        threshold = float(pick(options.score_threshold, 0.0))
        mmod = self.options
        if options.nms_iou is not None:
            mmod = replace(mmod, nms_iou_thresh=float(options.nms_iou))
        image = np.ascontiguousarray(image)
        if image.ndim == 2:  # dlib accepts 8-bit gray and replicates it to RGB
            image = np.repeat(image[:, :, None], 3, axis=2)
        for _ in range(upsample):
            image = pyramid_up(image)
        tensor, layout = self.to_tensor(image, reuse=True)
        if not layout.rects:
            return Detections.empty()
        output = self.forward(tensor)
        raw = tensor_to_dets(output, mmod, self.maps, layout, threshold)
        keep = mmod_nms(raw.boxes, mmod.nms_iou_thresh, mmod.nms_percent_covered_thresh)
        boxes = rect_down_2(raw.boxes[keep], upsample)
        log.debug(
            "mmod: tensor %s, %d candidates, %d after NMS", tensor.shape, len(raw.scores), len(keep)
        )
        return Detections(boxes.reshape(-1, 4), raw.scores[keep].astype(np.float64))

    def use_network(self, network: Any) -> None:
        self._module = network

    def close(self) -> None:
        self._module = None


def network_feed(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W)}``: ``input_rgb_image_pyramid::to_tensor`` of ``image``
    (tiled pyramid, mean subtracted, scaled by 1/256), as the detector feeds it for
    ``upsample`` 0."""
    tensor, layout = MMODDetector(graph).to_tensor(np.ascontiguousarray(image))
    if not layout.rects:
        raise FaceportError(
            "image too small for the MMOD input pyramid", found=tuple(image.shape[:2])
        )
    return {graph.inputs[0].name: tensor}
