"""SFD_pytorch's ``L2Norm`` (ParseNet-style channel normalisation with learned scale).

Ops modules are imported by the registry only when a graph is lowered, so torch is imported
at module level here.
"""

from __future__ import annotations

import torch
from torch import nn

from faceport.ir import Node
from faceport.registry import LowerContext, register


class L2Norm(nn.Module):
    """``x / (||x||_2 over channels + eps) * weight[c]``, in the source's operation order."""

    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


@register("s3fd", "l2norm")
def s3fd_l2norm(node: Node, ctx: LowerContext) -> nn.Module:
    """y = x / (sqrt(sum_c x^2) + eps) * w[c]; eps = 1e-10 added *after* the sqrt, in fp32."""
    return L2Norm(ctx.param(node, "weight"), float(node.attr("eps")))
