"""``F.relu`` after every trunk conv."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.registry import LowerContext, register

if TYPE_CHECKING:
    from torch import nn

    from faceport.ir import Node


@register("s3fd", "relu")
def s3fd_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """F.relu: max(x, 0) elementwise (in-place in the source; same values)."""
    from torch import nn

    return nn.ReLU()
