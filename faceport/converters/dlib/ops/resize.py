"""dlib's resampling layers: upsample, resize_to, resize_prev_to_tagged, reshape_to.

All of them use ``tt::resize_bilinear``, which on the CPU is ``dlib::resize_image`` per
channel plane: source coordinate = destination index * (in - 1) / max(out - 1, 1), i.e.
corner-aligned bilinear (torch's ``align_corners=True``), clamped at the last row/column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from faceport.converters.dlib.ops._common import input_count, int_attr
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """dlib's corner-aligned bilinear resize of every (n, k) plane to ``size``."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class DlibUpsample(nn.Module):
    def __init__(self, scale: tuple[int, int]) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == (1, 1):
            return x
        return F.interpolate(
            x, scale_factor=(float(self.scale[0]), float(self.scale[1])), mode="bilinear",
            align_corners=True,
        )


@register("dlib", "upsample")
def dlib_upsample(node: Node, ctx: LowerContext) -> nn.Module:
    """upsample: bilinear (not nearest) to (scale_y*nr, scale_x*nc), corners aligned:
    src = dst*(in-1)/(out-1)."""
    scale_y = int_attr(node, "scale_y", minimum=1)
    return DlibUpsample((scale_y, int_attr(node, "scale_x", minimum=1)))


class DlibResizeTo(nn.Module):
    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_bilinear(x, self.size)


@register("dlib", "resize_to")
def dlib_resize_to(node: Node, ctx: LowerContext) -> nn.Module:
    """resize_to: corner-aligned bilinear resize to fixed (nr, nc), src = dst*(in-1)/(out-1)."""
    return DlibResizeTo((int_attr(node, "nr", minimum=1), int_attr(node, "nc", minimum=1)))


class DlibResizeToTagged(nn.Module):
    def forward(self, x: torch.Tensor, tagged: torch.Tensor) -> torch.Tensor:
        return resize_bilinear(x, (tagged.shape[2], tagged.shape[3]))


@register("dlib", "resize_prev_to_tagged")
def dlib_resize_prev_to_tagged(node: Node, ctx: LowerContext) -> nn.Module:
    """resize_prev_to_tagged: inputs (subnet output, tagged); the subnet output resized
    (corner-aligned bilinear) to the tagged tensor's nr x nc, copied when already that size."""
    input_count(node, 2)
    return DlibResizeToTagged()


class DlibReshapeTo(nn.Module):
    """(k, nr, nc) with -1 = keep the input's; same element count -> row-major reshape, else
    (k unchanged) a corner-aligned bilinear rescale of nr x nc."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, nr, nc = (want if want != -1 else have for want, have in zip(self.shape, x.shape[1:]))
        if k * nr * nc == x.shape[1] * x.shape[2] * x.shape[3]:
            return x.reshape(x.shape[0], k, nr, nc)
        if k != x.shape[1]:
            raise ValueError(f"reshape_to cannot map {tuple(x.shape[1:])} to {(k, nr, nc)}")
        return resize_bilinear(x, (nr, nc))


@register("dlib", "reshape_to")
def dlib_reshape_to(node: Node, ctx: LowerContext) -> nn.Module:
    """reshape_to: per-sample row-major reshape to (k, nr, nc) (-1 keeps the input's size);
    when the element count differs and k is kept, a corner-aligned bilinear rescale instead."""
    dims = tuple(int_attr(node, key, -1, minimum=-1) for key in ("k", "nr", "nc"))
    return DlibReshapeTo((dims[0], dims[1], dims[2]))
