"""The one image contract of every whole-detector export: uint8 (H, W, 3), RGB by default.

A builder takes ``input_order`` ("RGB" or "BGR", recorded as ``faceport.image_color_order``)
and turns the image into float (3, H, W) planes in the order its network was trained on with
:func:`planes`. The channel swap is a gather over the outer (channel) axis after the HWC ->
CHW transpose: whole planes are copied (a gather on the last axis of the HWC image copies
element by element in onnxruntime).
"""

from __future__ import annotations

import torch

from faceport.errors import ExportError

ORDERS = ("RGB", "BGR")


def check_order(order: str) -> str:
    """``order`` upper-cased when it is a channel order a whole detector takes."""
    upper = str(order).upper()
    if upper not in ORDERS:
        raise ExportError("unknown image channel order", field="input_order",
                          expected=list(ORDERS), found=order)  # fmt: skip
    return upper


def planes(image: torch.Tensor, flip: bool) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W), channels reversed when ``flip``."""
    x = image.permute(2, 0, 1).float()
    if flip:
        x = x.index_select(0, torch.tensor([2, 1, 0]))
    return x
