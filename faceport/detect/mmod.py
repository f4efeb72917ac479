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
from collections.abc import Mapping
from typing import Any

import numpy as np

from faceport.converters import Detector
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

log = logging.getLogger(__name__)

DEFAULT_PYRAMID_DOWN = 6  # every dlib MMOD example network uses pyramid_down<6>


def _mean_rgb(meta: Mapping[str, Any]) -> tuple[float, float, float]:
    for keys in (("r", "g", "b"), ("avg_red", "avg_green", "avg_blue")):
        if all(k in meta for k in keys):
            return tuple(float(meta[k]) for k in keys)  # type: ignore[return-value]
    raise FaceportError(
        "input layer has no channel means", field="meta.input",
        expected="r, g, b (or avg_red, avg_green, avg_blue)", found=sorted(meta),
    )


class MMODDetector(Detector):
    """``detector(image_rgb_uint8, upsample_num_times=0, adjust_threshold=0.0)``.

    ``graph`` is a converted dlib ``loss_mmod`` network whose input layer is
    ``input_rgb_image_pyramid``. ``options`` overrides the ``mmod_options`` read from the
    model (needed for ``net_to_xml`` files, which do not carry them).
    """

    def __init__(
        self, graph: Graph, device: str = "cpu", *, options: MMODOptions | None = None
    ) -> None:
        inp = dict(graph.meta.get("input", {}))
        if inp.get("kind") != "input_rgb_image_pyramid":
            raise FaceportError(
                "not an MMOD detector network", field="meta.input.kind",
                expected="input_rgb_image_pyramid", found=inp.get("kind"),
            )
        self.graph = graph
        self.device = device
        self.mean_rgb = _mean_rgb(inp)
        self.padding = int(inp.get("pyramid_padding", 10))
        self.outer_padding = int(inp.get("pyramid_outer_padding", 11))
        self.pyramid_down = int(inp.get("pyramid_down", DEFAULT_PYRAMID_DOWN))
        self.options = options or MMODOptions.from_loss_meta(graph.meta.get("loss", {}))
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

    def __call__(  # type: ignore[override]
        self,
        image: np.ndarray,
        upsample_num_times: int = 0,
        adjust_threshold: float = 0.0,
    ) -> Detections:
        if upsample_num_times < 0:
            raise FaceportError("upsample_num_times must be >= 0", found=upsample_num_times)
        image = np.ascontiguousarray(image)
        if image.ndim == 2:  # dlib accepts 8-bit gray and replicates it to RGB
            image = np.repeat(image[:, :, None], 3, axis=2)
        for _ in range(upsample_num_times):
            image = pyramid_up(image)
        tensor, layout = self.to_tensor(image, reuse=True)
        if not layout.rects:
            return Detections.empty()
        output = self.forward(tensor)
        raw = tensor_to_dets(output, self.options, self.maps, layout, adjust_threshold)
        keep = mmod_nms(
            raw.boxes, self.options.nms_iou_thresh, self.options.nms_percent_covered_thresh
        )
        boxes = rect_down_2(raw.boxes[keep], upsample_num_times)
        log.debug(
            "mmod: tensor %s, %d candidates, %d after NMS", tensor.shape, len(raw.scores), len(keep)
        )
        return Detections(boxes.reshape(-1, 4), raw.scores[keep].astype(np.float64))
