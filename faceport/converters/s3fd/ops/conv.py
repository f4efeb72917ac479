"""``nn.Conv2d`` of SFD_pytorch (VGG trunk, fc6/fc7, extras and heads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.registry import LowerContext, register

if TYPE_CHECKING:
    from torch import nn

    from faceport.ir import Node


@register("s3fd", "conv")
def s3fd_conv(node: Node, ctx: LowerContext) -> nn.Module:
    """torch Conv2d: cross-correlation, zero padding ``pad`` on each side, out = floor((in +
    2*pad - dilation*(k-1) - 1) / stride) + 1, bias added (fc6: 3x3, pad 3, no dilation)."""
    import torch
    from torch import nn

    weight = ctx.param(node, "weight")
    kh, kw = node.attr("kernel")
    # skip_init: no random initialisation of weights that are overwritten next
    module = torch.nn.utils.skip_init(
        nn.Conv2d, int(node.attr("in_channels")), int(node.attr("out_channels")), (kh, kw),
        stride=tuple(node.attr("stride")), padding=tuple(node.attr("pad")),
        dilation=tuple(node.attr("dilation", [1, 1])), bias=True,
    )
    with torch.no_grad():
        module.weight.copy_(weight)
        assert module.bias is not None  # bias=True above
        module.bias.copy_(ctx.param(node, "bias"))
    return module
