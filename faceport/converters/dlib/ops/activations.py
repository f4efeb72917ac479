"""dlib's element-wise layers and softmaxes (``cpu_dlib.cpp`` formulas, float32)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from faceport.converters.dlib.ops._common import bool_attr, float_attr, str_attr, vector_param
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


class DlibElementwise(nn.Module):
    """One of dlib's point-wise activations; ``value`` is its scalar (alpha, ceiling, beta)."""

    def __init__(self, kind: str, value: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind, v = self.kind, self.value
        if kind == "identity":
            return x
        if kind == "relu":
            return F.relu(x)
        if kind == "leaky_relu":
            return torch.where(x > 0, x, x * v)
        if kind == "sig":
            return torch.sigmoid(x)
        if kind == "htan":
            return torch.tanh(x)
        if kind == "elu":
            return torch.where(x > 0, x, v * (torch.exp(x) - 1.0))
        if kind == "gelu":
            return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        if kind == "mish":
            # dlib's closed form of x*tanh(softplus(x)); exp overflow gives x - 0 = x.
            e = torch.exp(x)
            return x - 2.0 * x / (2.0 * e + e * e + 2.0)
        if kind == "clipped_relu":
            return torch.clamp(x, 0.0, v)
        if kind == "smelu":
            quad = (x + v) * (x + v) / (4.0 * v)
            return torch.where(x >= v, x, torch.where(x <= -v, torch.zeros_like(x), quad))
        if kind == "silu":
            return x * torch.sigmoid(x)
        if kind == "scale":
            return x * v
        raise AssertionError("unknown element-wise kind " + kind)

    def extra_repr(self) -> str:
        return f"{self.kind}, value={self.value:g}"


class DlibPrelu(nn.Module):
    """x if x > 0 else alpha*x with one learned alpha shared by every element."""

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.alpha = nn.Parameter(alpha.reshape(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x, x * self.alpha)


@register("dlib", "relu")
def dlib_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """relu: max(x, 0); disabled='true' (fused into the preceding con by dlib 20) -> identity."""
    return DlibElementwise("identity" if bool_attr(node, "disabled", False) else "relu")


@register("dlib", "prelu")
def dlib_prelu(node: Node, ctx: LowerContext) -> nn.Module:
    """prelu: x > 0 ? x : p*x with a single learned scalar p (params alpha: (1,))."""
    return DlibPrelu(vector_param(node, ctx, "alpha", 1))


@register("dlib", "leaky_relu")
def dlib_leaky_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """leaky_relu: x > 0 ? x : alpha*x, alpha default 0.01."""
    return DlibElementwise("leaky_relu", float_attr(node, "alpha", 0.01))


@register("dlib", "sig")
def dlib_sig(node: Node, ctx: LowerContext) -> nn.Module:
    """sig: logistic sigmoid 1/(1+exp(-x))."""
    return DlibElementwise("sig")


@register("dlib", "htan")
def dlib_htan(node: Node, ctx: LowerContext) -> nn.Module:
    """htan: tanh(x)."""
    return DlibElementwise("htan")


@register("dlib", "elu")
def dlib_elu(node: Node, ctx: LowerContext) -> nn.Module:
    """elu: x > 0 ? x : alpha*(exp(x)-1), alpha default 1."""
    return DlibElementwise("elu", float_attr(node, "alpha", 1.0))


@register("dlib", "gelu")
def dlib_gelu(node: Node, ctx: LowerContext) -> nn.Module:
    """gelu: exact erf form 0.5*x*(1+erf(x/sqrt(2))) (not the tanh approximation)."""
    return DlibElementwise("gelu")


@register("dlib", "mish")
def dlib_mish(node: Node, ctx: LowerContext) -> nn.Module:
    """mish: x - 2x/(2e + e^2 + 2) with e = exp(x), dlib's form of x*tanh(softplus(x))."""
    return DlibElementwise("mish")


@register("dlib", "clipped_relu")
def dlib_clipped_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """clipped_relu: min(max(x, 0), ceiling), ceiling default 6."""
    return DlibElementwise("clipped_relu", float_attr(node, "ceiling", 6.0))


@register("dlib", "smelu")
def dlib_smelu(node: Node, ctx: LowerContext) -> nn.Module:
    """smelu: x >= beta ? x : x <= -beta ? 0 : (x+beta)^2/(4*beta), beta default 1."""
    return DlibElementwise("smelu", float_attr(node, "beta", 1.0))


@register("dlib", "silu")
def dlib_silu(node: Node, ctx: LowerContext) -> nn.Module:
    """silu: x * sigmoid(x)."""
    return DlibElementwise("silu")


@register("dlib", "multiply")
def dlib_multiply(node: Node, ctx: LowerContext) -> nn.Module:
    """multiply: x * val (what dlib's deployed nets hold in place of dropout, val = 1-rate)."""
    return DlibElementwise("scale", float_attr(node, "val", 0.5))


@register("dlib", "dropout")
def dlib_dropout(node: Node, ctx: LowerContext) -> nn.Module:
    """dropout: dlib masks with keep probability 1-drop_rate and does NOT rescale, in every
    forward (it has no test mode); converted to its expectation x*(1-drop_rate), which is the
    multiply layer dlib itself builds from a dropout layer for deployment. Default rate 0.5."""
    return DlibElementwise("scale", 1.0 - float_attr(node, "drop_rate", 0.5))


class DlibSoftmax(nn.Module):
    """Softmax over channels per location, per row (plane_wise) or over a whole sample."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "channel_wise":
            return torch.softmax(x, dim=1)
        if self.mode == "all":
            return torch.softmax(torch.flatten(x, 1), dim=1).reshape(x.shape)
        # plane_wise: along each row; dlib writes 0 for a row that is entirely -inf.
        dead = (x == float("-inf")).all(dim=3, keepdim=True)
        y = torch.softmax(x.masked_fill(dead, 0.0), dim=3)
        return y.masked_fill(dead, 0.0)


@register("dlib", "softmax")
def dlib_softmax(node: Node, ctx: LowerContext) -> nn.Module:
    """softmax: mode channel_wise (default): over k at each (n, r, c), max-subtracted;
    plane_wise (dlib 20 softmaxm): over nc along each row, an all -inf row gives zeros."""
    return DlibSoftmax(str_attr(node, "mode", "channel_wise", ("channel_wise", "plane_wise")))


@register("dlib", "softmax_all")
def dlib_softmax_all(node: Node, ctx: LowerContext) -> nn.Module:
    """softmax_all: one softmax over all k*nr*nc values of each sample."""
    return DlibSoftmax("all")
