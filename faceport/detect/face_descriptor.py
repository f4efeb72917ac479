"""dlib's face descriptor (``dlib_face_recognition_resnet_model_v1``) over a converted graph.

``face_recognition_model_v1.compute_face_descriptor(chip)`` (dlib
``tools/python/src/face_recognition.cpp``) takes a 150x150 RGB chip aligned the way
``get_face_chip`` makes it (``get_face_chip_details(shape, 150, padding=0.25)``), runs the
``loss_metric`` network whose input layer is ``input_rgb_image_sized<150>`` and returns the
128-D output (``num_jitters`` 0: one pass, no jitter). The input layer writes
``(pixel - avg_channel) / 256`` per channel (float arithmetic), planar RGB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import info_of

CHIP_SIZE = 150
CHIP_PADDING = 0.25
_INPUT_KINDS = ("input_rgb_image_sized", "input_rgb_image")


def chips_to_tensor(chips: np.ndarray, mean_rgb: np.ndarray) -> np.ndarray:
    """uint8 chips (N, H, W, 3) or (H, W, 3) -> float32 (N, 3, H, W) as dlib's input layer."""
    chips = np.asarray(chips)
    if chips.ndim == 3:
        chips = chips[None]
    if chips.ndim != 4 or chips.shape[-1] != 3 or chips.dtype != np.uint8:
        raise FaceportError(
            "face chips must be uint8 RGB", field="chips",
            expected="uint8 (N, H, W, 3)", found=f"{chips.dtype} {chips.shape}",
        )
    planes = np.moveaxis(chips, -1, 1).astype(np.float32)
    return (planes - mean_rgb.reshape(1, 3, 1, 1)) / np.float32(256.0)


class FaceDescriptor:
    """``descriptor(chips) -> float32 (N, 128)`` for uint8 RGB chips (N, 150, 150, 3)."""

    def __init__(self, graph: Graph, device: str = "cpu") -> None:
        info = info_of(graph)
        inp, pre = info.input, info.preprocess
        if inp is None or inp.layer not in _INPUT_KINDS or pre is None:
            raise FaceportError(
                "not an RGB-image embedding network", field="info.input.layer",
                expected=list(_INPUT_KINDS), found=None if inp is None else inp.layer,
            )
        self.graph = graph
        self.device = device
        self.mean_rgb = np.asarray(pre.mean, dtype=np.float32)
        self.chip_shape = inp.size
        self._module: Any = None

    def module(self) -> Any:
        if self._module is None:
            from faceport.lower import lower

            self._module = lower(self.graph).to(self.device)
        return self._module

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        import torch

        tensor = chips_to_tensor(chips, self.mean_rgb)
        if self.chip_shape is not None and tuple(tensor.shape[2:]) != self.chip_shape:
            raise FaceportError(
                "chip size does not match the network's input layer", field="chips",
                expected=self.chip_shape, found=tuple(tensor.shape[2:]),
            )
        with torch.inference_mode():
            out = self.module()(torch.from_numpy(tensor).to(self.device))
        return np.asarray(out.float().cpu().numpy().reshape(tensor.shape[0], -1))
