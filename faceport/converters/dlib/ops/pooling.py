"""dlib's ``max_pool`` and ``avg_pool``.

dlib's CPU pooling (``cpu::pooling::operator()``) takes, for output (r, c), the window of
rows ``r*stride_y - padding_y ... + nr - 1`` (same for columns) *clipped to the image*: max
pooling never sees the padding (as if it were -inf) and average pooling divides by the number
of in-image elements (cuDNN: ``CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING``). ``nr``/``nc``
= 0 means the window spans the whole input along that axis (``max_pool_everything``).
Output size is ``1 + (H + 2*padding - window) // stride``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from faceport.converters.dlib.ops._common import fail, int_attr
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


class DlibPool(nn.Module):
    """Max or average pooling with dlib's clipped-window semantics."""

    def __init__(
        self,
        mode: str,
        window: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        super().__init__()
        self.mode = mode
        self.window = window
        self.stride = stride
        self.padding = padding

    def _reduce(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        if self.mode == "max":
            return x.amax(dim=dim, keepdim=True)
        return x.mean(dim=dim, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.window
        # A whole-axis window has padding 0 (dlib asserts it), so that axis reduces to size
        # 1 independently of the other one, for max and for the in-image mean alike.
        if kh == 0:
            x, kh = self._reduce(x, 2), 1
        if kw == 0:
            x, kw = self._reduce(x, 3), 1
        py, px = self.padding
        if (kh, kw) == (1, 1) and self.stride == (1, 1) and (py, px) == (0, 0):
            return x
        native = py <= kh // 2 and px <= kw // 2  # torch's own limit on implicit padding
        if self.mode == "max":
            if native:
                return F.max_pool2d(x, (kh, kw), self.stride, (py, px))
            padded = F.pad(x, (px, px, py, py), value=float("-inf"))
            return F.max_pool2d(padded, (kh, kw), self.stride)
        if native:
            return F.avg_pool2d(x, (kh, kw), self.stride, (py, px), count_include_pad=False)
        pad = (px, px, py, py)
        sums = F.avg_pool2d(F.pad(x, pad), (kh, kw), self.stride)
        ones = torch.ones_like(x[:1, :1])
        counts = F.avg_pool2d(F.pad(ones, pad), (kh, kw), self.stride)
        return sums / counts

    def extra_repr(self) -> str:
        return f"{self.mode}, window={self.window}, stride={self.stride}, pad={self.padding}"


def _pool(node: Node, mode: str) -> DlibPool:
    nr = int_attr(node, "nr", minimum=0)
    nc = int_attr(node, "nc", minimum=0)
    sy = int_attr(node, "stride_y", 1, minimum=1)
    sx = int_attr(node, "stride_x", 1, minimum=1)
    py = int_attr(node, "padding_y", nr // 2 if sy == 1 else 0, minimum=0)
    px = int_attr(node, "padding_x", nc // 2 if sx == 1 else 0, minimum=0)
    for size, pad, key in ((nr, py, "padding_y"), (nc, px, "padding_x")):
        if (size == 0 and pad != 0) or (size != 0 and pad >= size):
            fail(node, key, "padding must be smaller than the window (0 if window is 0)",
                  expected=f"< {size}" if size else 0, found=pad)
    return DlibPool(mode, (nr, nc), (sy, sx), (py, px))


@register("dlib", "max_pool")
def dlib_max_pool(node: Node, ctx: LowerContext) -> nn.Module:
    """max_pool: max over the window clipped to the image (padding acts as -inf), out =
    1+(H+2p-nr)//stride; nr/nc = 0: window = whole input axis; default p = nr/2 iff stride 1."""
    return _pool(node, "max")


@register("dlib", "avg_pool")
def dlib_avg_pool(node: Node, ctx: LowerContext) -> nn.Module:
    """avg_pool: mean over the in-image part of the window only (padding excluded from the
    divisor), out = 1+(H+2p-nr)//stride; nr/nc = 0: whole axis; default p = nr/2 iff stride 1."""
    return _pool(node, "avg")
