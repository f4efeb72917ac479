"""BatchNorm (inference: running statistics) and L2Normalization."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.ir import Node
from faceport.registry import LowerContext, register

log = logging.getLogger(__name__)


class MXBatchNorm(nn.Module):
    """Inference batch norm along ``axis`` with stored running statistics."""

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float,
                 axis: int) -> None:
        super().__init__()
        self.register_buffer("weight", gamma)
        self.register_buffer("bias", beta)
        self.register_buffer("running_mean", mean)
        self.register_buffer("running_var", var)
        self.eps = eps
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        axis = self.axis % x.dim()
        if axis != 1:
            x = x.movedim(axis, 1)
        y = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         False, 0.0, self.eps)
        return y.movedim(1, axis) if axis != 1 else y


@register("mxnet", "BatchNorm")
def mxnet_batch_norm(node: Node, ctx: LowerContext) -> nn.Module:
    """out = (x - moving_mean) / sqrt(moving_var + eps) * gamma + beta along ``axis`` (default 1);
    eps defaults to 1e-3; fix_gamma (default True) means gamma = 1 whatever is stored;
    use_global_stats and momentum only matter in training.
    """
    gamma = ctx.param(node, "gamma")
    if A.get_bool(node, "fix_gamma", True):
        if not torch.all(gamma == 1):
            log.info("%s: fix_gamma=True, stored gamma ignored (MXNet uses 1)", node.name)
        gamma = torch.ones_like(gamma)
    return MXBatchNorm(
        gamma,
        ctx.param(node, "beta"),
        ctx.param(node, "moving_mean"),
        ctx.param(node, "moving_var"),
        A.get_float(node, "eps", 1e-3),
        A.get_int(node, "axis", 1),
    )


class MXL2Normalization(nn.Module):
    """x / sqrt(sum(x^2) + eps) over the axes of ``mode``."""

    def __init__(self, mode: str, eps: float) -> None:
        super().__init__()
        self.mode = mode
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "channel":
            dims = [1]
        elif self.mode == "spatial":
            dims = list(range(2, x.dim()))
        else:
            dims = list(range(1, x.dim()))
        return x / torch.sqrt((x * x).sum(dim=dims, keepdim=True) + self.eps)


@register("mxnet", "L2Normalization")
def mxnet_l2_normalization(node: Node, ctx: LowerContext) -> nn.Module:
    """out = x / sqrt(sum(x^2) + eps), summed over all but axis 0 (mode instance, default), over
    axis 1 (channel) or over axes 2.. (spatial); eps defaults to 1e-10.
    """
    mode = A.get_str(node, "mode", "instance", ("instance", "channel", "spatial"))
    return MXL2Normalization(mode, A.get_float(node, "eps", 1e-10))
