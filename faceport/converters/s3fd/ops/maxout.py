"""The max-out background label of S3FD's conv3_3 conf head (paper section 3.3)."""

from __future__ import annotations

import torch
from torch import nn

from faceport.ir import Node
from faceport.registry import LowerContext, register


class MaxOutBackground(nn.Module):
    """(N, B+1, H, W) -> (N, 2, H, W): [max of the B background maps, the face map]."""

    def __init__(self, background: int) -> None:
        super().__init__()
        self.background = background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bmax = x[:, 0:1]
        for c in range(1, self.background):
            bmax = torch.maximum(bmax, x[:, c : c + 1])
        return torch.cat([bmax, x[:, self.background :]], dim=1)


@register("s3fd", "maxout_conf")
def s3fd_maxout_conf(node: Node, ctx: LowerContext) -> nn.Module:
    """(N, B+1, H, W) -> (N, 2, H, W): [max over the B background channels, face channel]."""
    return MaxOutBackground(int(node.attr("background")))
