"""dlib's pure data-movement layers: extract, slice, reorg, transpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from faceport.converters.dlib.ops._common import int_attr
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


class DlibExtract(nn.Module):
    """Elements [offset, offset + k*nr*nc) of each sample's flat k*nr*nc vector."""

    def __init__(self, offset: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.offset = offset
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, nr, nc = self.shape
        flat = torch.flatten(x, 1)[:, self.offset : self.offset + k * nr * nc]
        return flat.reshape(x.shape[0], k, nr, nc)


@register("dlib", "extract")
def dlib_extract(node: Node, ctx: LowerContext) -> nn.Module:
    """extract: per sample, the k*nr*nc consecutive values from flat index offset of the
    row-major (k, nr, nc) sample, reshaped to (k, nr, nc)."""
    shape = tuple(int_attr(node, key, minimum=1) for key in ("k", "nr", "nc"))
    return DlibExtract(int_attr(node, "offset", 0, minimum=0), (shape[0], shape[1], shape[2]))


class DlibSlice(nn.Module):
    def __init__(self, offsets: tuple[int, int, int], shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.offsets = offsets
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (ok, orow, ocol), (k, nr, nc) = self.offsets, self.shape
        return x[:, ok : ok + k, orow : orow + nr, ocol : ocol + nc]


@register("dlib", "slice")
def dlib_slice(node: Node, ctx: LowerContext) -> nn.Module:
    """slice: the box x[:, offset_k:+k, offset_nr:+nr, offset_nc:+nc] (dlib 20's net_to_xml
    writes offset_nc under the name offset_nr twice; readers must recover offset_nc)."""
    off = tuple(int_attr(node, key, 0, minimum=0) for key in ("offset_k", "offset_nr", "offset_nc"))
    shape = tuple(int_attr(node, key, minimum=1) for key in ("k", "nr", "nc"))
    return DlibSlice((off[0], off[1], off[2]), (shape[0], shape[1], shape[2]))


class DlibReorg(nn.Module):
    def __init__(self, row_stride: int, col_stride: int) -> None:
        super().__init__()
        self.row_stride = row_stride
        self.col_stride = col_stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, k, h, w = x.shape
        rs, cs = self.row_stride, self.col_stride
        y = x.reshape(n, k, h // rs, rs, w // cs, cs).permute(0, 3, 5, 1, 2, 4)
        return y.reshape(n, rs * cs * k, h // rs, w // cs)


@register("dlib", "reorg")
def dlib_reorg(node: Node, ctx: LowerContext) -> nn.Module:
    """reorg: space-to-depth, out[n, (dy*cs+dx)*k + c, r, q] = in[n, c, r*rs+dy, q*cs+dx]
    (channel-block-major, unlike torch's pixel_unshuffle), nr % rs == nc % cs == 0."""
    return DlibReorg(int_attr(node, "row_stride", 2, minimum=1),
                     int_attr(node, "col_stride", 2, minimum=1))


class DlibTranspose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(2, 3)


@register("dlib", "transpose")
def dlib_transpose(node: Node, ctx: LowerContext) -> nn.Module:
    """transpose: swap nr and nc of every (n, k) plane: (N, k, nr, nc) -> (N, k, nc, nr)."""
    return DlibTranspose()
