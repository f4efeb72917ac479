"""MXNet ops with several outputs: ``SliceChannel`` (alias ``split``).

The reader names output 0 of a node after the node and output ``k > 0`` ``<node>_output<k>``
(MXNet's own ``list_outputs`` spelling), and asks
:func:`faceport.converters.mxnet.opspec.output_count` how many outputs a node has, so any of
them can feed later layers (MTCNN-style nets split a head into its parts this way).
"""

from __future__ import annotations

from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.converters.mxnet.opspec import output_count
from faceport.ir import Node
from faceport.registry import LowerContext, register


@register("mxnet", "SliceChannel", "split")
def mxnet_slice_channel(node: Node, ctx: LowerContext) -> nn.Module:
    """Split ``axis`` (default 1) into ``num_outputs`` equal parts (the size must divide:
    MXNet refuses otherwise); ``squeeze_axis`` drops the axis, which needs parts of size 1."""
    return MXSliceChannel(
        output_count(node), A.get_int(node, "axis", 1), A.get_bool(node, "squeeze_axis", False)
    )


class MXSliceChannel(nn.Module):
    """``torch.chunk`` into equal parts along one axis, optionally squeezed."""

    def __init__(self, parts: int, axis: int, squeeze: bool) -> None:
        super().__init__()
        self.parts, self.axis, self.squeeze = parts, axis, squeeze

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        axis = self.axis % x.dim()
        size = x.shape[axis] // self.parts
        pieces = x.split(size, dim=axis)
        if self.squeeze:
            return tuple(p.squeeze(axis) for p in pieces)
        return tuple(pieces)
