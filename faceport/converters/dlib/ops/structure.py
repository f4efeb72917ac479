"""dlib's wiring layers: tag, skip, add_prev, mult_prev, multm_prev, scale, scale_prev, concat.

Several-input nodes take their inputs in ``node.inputs`` order; for the ``*_prev`` layers and
``scale`` that order is ``(subnet output, tagged tensor)``: the tensor of the layer directly
below, then the output of the ``tag`` layer the id names. ``concat`` takes one tensor per tag
in its ``tags`` attribute's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from faceport.converters.dlib.ops._common import fail, input_count
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


class DlibPick(nn.Module):
    """Return input ``index`` unchanged (tag layers, skip layers)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return xs[self.index]


@register("dlib", "tag")
def dlib_tag(node: Node, ctx: LowerContext) -> nn.Module:
    """tag: identity; it only names its input so a later layer can read it."""
    input_count(node, 1)
    return DlibPick(0)


@register("dlib", "skip")
def dlib_skip(node: Node, ctx: LowerContext) -> nn.Module:
    """skip: outputs the tagged tensor and drops the subnet output; inputs (tagged,) or
    (subnet output, tagged) -> the last one."""
    if len(node.inputs) not in (1, 2):
        fail(node, "inputs", "wrong number of inputs", "1 or 2", len(node.inputs))
    return DlibPick(len(node.inputs) - 1)


def _zero_pad_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    if tuple(x.shape) == shape:
        return x
    pads: list[int] = []
    for size, have in zip(reversed(shape), reversed(x.shape)):
        pads += [0, size - have]
    return F.pad(x, pads)


class DlibZeroPaddedBinary(nn.Module):
    """a (+ or *) b on the per-axis maximum shape, each input zero-filled beyond its size."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
        a, b = _zero_pad_to(a, shape), _zero_pad_to(b, shape)
        return a + b if self.kind == "add" else a * b


@register("dlib", "add_prev")
def dlib_add_prev(node: Node, ctx: LowerContext) -> nn.Module:
    """add_prev: inputs (subnet output, tagged); output shape = per-axis max of the two, each
    added where it has an element, zero elsewhere (tt::add's bounds-checked branch)."""
    input_count(node, 2)
    return DlibZeroPaddedBinary("add")


@register("dlib", "mult_prev")
def dlib_mult_prev(node: Node, ctx: LowerContext) -> nn.Module:
    """mult_prev: inputs (subnet output, tagged); per-axis max shape, element product where
    both have an element and 0 elsewhere (tt::multiply_zero_padded)."""
    input_count(node, 2)
    return DlibZeroPaddedBinary("mul")


class DlibPlaneMatmul(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


@register("dlib", "multm_prev")
def dlib_multm_prev(node: Node, ctx: LowerContext) -> nn.Module:
    """multm_prev: inputs (subnet a, tagged b); per (n, k) plane the matrix product
    a(nr x nc) @ b(nc x nc2) -> (N, k, nr, nc2) (tt::gemm PLANE_WISE)."""
    input_count(node, 2)
    return DlibPlaneMatmul()


class DlibScaleChannels(nn.Module):
    """src * scales with scales (N, k, 1, 1) broadcast over each channel plane."""

    def __init__(self, scales_index: int) -> None:
        super().__init__()
        self.scales_index = scales_index

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        scales, src = (a, b) if self.scales_index == 0 else (b, a)
        return src * scales


@register("dlib", "scale")
def dlib_scale(node: Node, ctx: LowerContext) -> nn.Module:
    """scale: inputs (subnet output = scales (N,k,1,1), tagged src); out = src * scales per
    channel (squeeze-excitation style, tt::scale_channels)."""
    input_count(node, 2)
    return DlibScaleChannels(0)


@register("dlib", "scale_prev")
def dlib_scale_prev(node: Node, ctx: LowerContext) -> nn.Module:
    """scale_prev: inputs (subnet output = src, tagged scales (N,k,1,1)); out = src * scales."""
    input_count(node, 2)
    return DlibScaleChannels(1)


class DlibConcat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


@register("dlib", "concat")
def dlib_concat(node: Node, ctx: LowerContext) -> nn.Module:
    """concat: the tagged tensors stacked along k in the order of attr tags (same N, nr, nc
    required by dlib); inputs are one tensor per tag, in that order."""
    if not node.inputs:
        fail(node, "inputs", "concat needs at least one input", ">= 1", 0)
    return DlibConcat()
