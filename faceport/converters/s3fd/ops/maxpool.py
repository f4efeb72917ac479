"""``F.max_pool2d(h, 2, 2)`` between the VGG stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.registry import LowerContext, register

if TYPE_CHECKING:
    from torch import nn

    from faceport.ir import Node


@register("s3fd", "maxpool")
def s3fd_maxpool(node: Node, ctx: LowerContext) -> nn.Module:
    """F.max_pool2d(kernel 2, stride 2): no padding, floor rounding (odd rows/cols dropped)."""
    from torch import nn

    return nn.MaxPool2d(
        tuple(node.attr("kernel")), tuple(node.attr("stride")),
        padding=tuple(node.attr("pad", [0, 0])), ceil_mode=bool(node.attr("ceil_mode", False)),
    )
