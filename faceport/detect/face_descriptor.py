"""dlib's face descriptor (``dlib_face_recognition_resnet_model_v1``) over a converted graph.

``face_recognition_model_v1.compute_face_descriptor(chip)`` (dlib
``tools/python/src/face_recognition.cpp``) takes a 150x150 RGB chip aligned the way
``get_face_chip`` makes it (``get_face_chip_details(shape, 150, padding=0.25)``), runs the
``loss_metric`` network whose input layer is ``input_rgb_image_sized<150>`` and returns the
128-D output (``num_jitters`` 0: one pass, no jitter). The input layer writes
``(pixel - avg_channel) / 256`` per channel (float arithmetic), planar RGB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from faceport.errors import FaceportError
from faceport.ir import Graph

CHIP_SIZE = 150
CHIP_PADDING = 0.25
_INPUT_KINDS = ("input_rgb_image_sized", "input_rgb_image")


def _mean_rgb(meta: Mapping[str, Any]) -> np.ndarray:
    for keys in (("r", "g", "b"), ("avg_red", "avg_green", "avg_blue")):
        if all(k in meta for k in keys):
            return np.array([float(meta[k]) for k in keys], dtype=np.float32)
    raise FaceportError(
        "input layer has no channel means", field="meta.input",
        expected="r, g, b (or avg_red, avg_green, avg_blue)", found=sorted(meta),
    )


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
        inp = dict(graph.meta.get("input", {}))
        if inp.get("kind") not in _INPUT_KINDS:
            raise FaceportError(
                "not an RGB-image embedding network", field="meta.input.kind",
                expected=list(_INPUT_KINDS), found=inp.get("kind"),
            )
        self.graph = graph
        self.device = device
        self.mean_rgb = _mean_rgb(inp)
        nr, nc = inp.get("nr"), inp.get("nc")
        self.chip_shape = (int(nr), int(nc)) if nr and nc else None
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


def chip_from_dlib(
    image: np.ndarray, shape: Any, size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> np.ndarray:
    """The aligned chip dlib's ``compute_face_descriptor(img, shape)`` would use.

    ``shape`` is a ``dlib.full_object_detection`` (from a shape predictor). Uses dlib's own
    ``get_face_chip`` (so it needs dlib); the comparison is then on identical chips.
    """
    from faceport.verify.runners.dlib_python import import_dlib

    dlib = import_dlib()
    chip = dlib.get_face_chip(np.ascontiguousarray(image, dtype=np.uint8), shape, size, padding)
    return np.asarray(chip, dtype=np.uint8)
