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

    def to_tensor(self, chips: np.ndarray) -> np.ndarray:
        """uint8 chips -> the network input, checked against the input layer's size."""
        tensor = chips_to_tensor(chips, self.mean_rgb)
        if self.chip_shape is not None and tuple(tensor.shape[2:]) != self.chip_shape:
            raise FaceportError(
                "chip size does not match the network's input layer", field="chips",
                expected=self.chip_shape, found=tuple(tensor.shape[2:]),
            )
        return tensor

    def __call__(self, chips: np.ndarray) -> np.ndarray:
        import torch

        tensor = self.to_tensor(chips)
        with torch.inference_mode():
            out = self.module()(torch.from_numpy(tensor).to(self.device))
        return np.asarray(out.float().cpu().numpy().reshape(tensor.shape[0], -1))


def centre_chip(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A fixed-size chip from any uint8 RGB photo: the centred square crop resized to ``size``
    (H, W) with Pillow's bilinear filter (what verify feeds a descriptor when no landmark
    model aligns the face; both sides then see the same uint8 chip)."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FaceportError("a chip is cut from a uint8 RGB image", field="image",
                            expected="uint8 (H, W, 3)", found=f"{image.dtype} {image.shape}")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    resized = square.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def network_feed(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W), "@chip": uint8 (H, W, 3)}``: the centred chip of
    ``image`` at the network's input size, as dlib's input layer converts it."""
    info = info_of(graph)
    size = info.input.size if info.input is not None else None
    if size is None:
        raise FaceportError("the descriptor network has no fixed input size", field="info.input")
    chip = centre_chip(image, size)
    return {graph.inputs[0].name: FaceDescriptor(graph).to_tensor(chip), "@chip": chip}
