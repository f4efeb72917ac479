"""dlib's normalisation layers: bn_con/bn_fc (inference form), affine_con/affine_fc,
layer_norm, rms_norm and l2normalize (``cpu_dlib.cpp`` / ``tensor_tools.cpp`` formulas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from faceport.converters.dlib.ops._common import bool_attr, float_attr, vector_param
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext

DEFAULT_BATCH_NORM_EPS = 1e-4  # dlib's DEFAULT_BATCH_NORM_EPS (19.24 and 20.0)
DEFAULT_LAYER_NORM_EPS = 1e-5
DEFAULT_RMS_NORM_EPS = 1e-5
DEFAULT_L2_NORM_EPS = 1e-5


class DlibScaleShift(nn.Module):
    """y = (x - center) * scale + shift, per channel (conv mode) or per element (fc mode)."""

    def __init__(
        self, scale: torch.Tensor, shift: torch.Tensor, center: torch.Tensor | None, conv: bool
    ) -> None:
        super().__init__()
        self.scale = nn.Parameter(scale)
        self.shift = nn.Parameter(shift)
        self.center = None if center is None else nn.Parameter(center)
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv:
            view = (1, -1, 1, 1)
            y = x if self.center is None else x - self.center.reshape(view)
            return y * self.scale.reshape(view) + self.shift.reshape(view)
        flat = torch.flatten(x, 1)  # fc mode: one parameter per k*nr*nc element
        if self.center is not None:
            flat = flat - self.center
        return (flat * self.scale + self.shift).reshape(x.shape)


def _bn(node: Node, ctx: LowerContext, conv: bool) -> nn.Module:
    gamma = vector_param(node, ctx, "gamma")
    size = gamma.numel()
    beta = vector_param(node, ctx, "beta", size)
    mean = vector_param(node, ctx, "running_mean", size)
    var = vector_param(node, ctx, "running_var", size)
    eps = float_attr(node, "eps", DEFAULT_BATCH_NORM_EPS)
    invstd = 1.0 / torch.sqrt(var.double() + eps)  # dlib: 1.0f/std::sqrt(v[k] + eps), eps double
    return DlibScaleShift((gamma.double() * invstd).float(), beta, mean, conv)


@register("dlib", "bn_con")
def dlib_bn_con(node: Node, ctx: LowerContext) -> nn.Module:
    """bn_con (inference): y = gamma*(x - running_mean)/sqrt(running_var + eps) + beta per
    channel, eps default 1e-4; dlib uses batch statistics instead whenever N > 1."""
    return _bn(node, ctx, conv=True)


@register("dlib", "bn_fc")
def dlib_bn_fc(node: Node, ctx: LowerContext) -> nn.Module:
    """bn_fc (inference): the bn_con formula per element of the k*nr*nc sample, eps default
    1e-4; dlib uses batch statistics instead whenever N > 1."""
    return _bn(node, ctx, conv=False)


def _affine(node: Node, ctx: LowerContext, conv: bool) -> nn.Module:
    if bool_attr(node, "disabled", False):
        return nn.Identity()
    gamma = vector_param(node, ctx, "gamma")
    beta = vector_param(node, ctx, "beta", gamma.numel())
    return DlibScaleShift(gamma, beta, None, conv)


@register("dlib", "affine_con")
def dlib_affine_con(node: Node, ctx: LowerContext) -> nn.Module:
    """affine_con: y = gamma[k]*x + beta[k] per channel; disabled='true' -> identity."""
    return _affine(node, ctx, conv=True)


@register("dlib", "affine_fc")
def dlib_affine_fc(node: Node, ctx: LowerContext) -> nn.Module:
    """affine_fc: y = gamma*x + beta per element of the k*nr*nc sample; disabled -> identity."""
    return _affine(node, ctx, conv=False)


class DlibSampleNorm(nn.Module):
    """Normalise each sample over all its k*nr*nc values, then scale (and shift) by channel."""

    def __init__(
        self, kind: str, eps: float, gamma: torch.Tensor, beta: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.kind = kind
        self.eps = eps
        self.gamma = nn.Parameter(gamma)
        self.beta = None if beta is None else nn.Parameter(beta)

    def _affine(self, y: torch.Tensor) -> torch.Tensor:
        # dlib 20 keeps one gamma/beta per channel; 19.24's layer_norm one per element.
        per_channel = self.gamma.numel() == y.shape[1]
        shape = (1, -1, 1, 1) if per_channel else (1, *y.shape[1:])
        y = y * self.gamma.reshape(shape)
        return y if self.beta is None else y + self.beta.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (1, 2, 3)
        mean_sq = (x * x).mean(dim=dims, keepdim=True)
        if self.kind == "rms":
            return self._affine(x * torch.rsqrt(mean_sq + self.eps))
        mean = x.mean(dim=dims, keepdim=True)
        # dlib's one-pass variance E[x^2] - E[x]^2.
        invstd = torch.rsqrt(mean_sq - mean * mean + self.eps)
        return self._affine((x - mean) * invstd)


@register("dlib", "layer_norm")
def dlib_layer_norm(node: Node, ctx: LowerContext) -> nn.Module:
    """layer_norm: per sample over all k*nr*nc, (x-m)/sqrt(E[x^2]-m^2+eps)*gamma+beta, eps
    default 1e-5; gamma/beta per channel (dlib 20) or per element (dlib 19.24)."""
    gamma = vector_param(node, ctx, "gamma")
    beta = vector_param(node, ctx, "beta", gamma.numel())
    return DlibSampleNorm("layer", float_attr(node, "eps", DEFAULT_LAYER_NORM_EPS), gamma, beta)


@register("dlib", "rms_norm")
def dlib_rms_norm(node: Node, ctx: LowerContext) -> nn.Module:
    """rms_norm: x / sqrt(mean over k*nr*nc of x^2 + eps) * gamma[k], eps default 1e-5."""
    gamma = vector_param(node, ctx, "gamma")
    return DlibSampleNorm("rms", float_attr(node, "eps", DEFAULT_RMS_NORM_EPS), gamma, None)


class DlibL2Normalize(nn.Module):
    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sq = (x * x).sum(dim=(1, 2, 3), keepdim=True)
        return x * torch.rsqrt(sq + self.eps)


@register("dlib", "l2normalize")
def dlib_l2normalize(node: Node, ctx: LowerContext) -> nn.Module:
    """l2normalize: x / sqrt(sum over the sample's k*nr*nc of x^2 + eps), eps default 1e-5
    (eps inside the root, not a max with the norm)."""
    return DlibL2Normalize(float_attr(node, "eps", DEFAULT_L2_NORM_EPS))
