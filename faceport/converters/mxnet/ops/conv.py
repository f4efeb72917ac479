"""Convolution, Deconvolution and FullyConnected (weights NCHW/OIHW, MXNet's own layout)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.errors import FormatError
from faceport.ir import Node
from faceport.registry import LowerContext, register


def _layout(node: Node, ndim: int) -> None:
    layout = node.attrs.get("layout")
    wanted = {1: "NCW", 2: "NCHW", 3: "NCDHW"}.get(ndim)
    if layout not in (None, wanted):
        raise FormatError(
            f"{node.op} {node.name!r}: only the channels-first layout is supported",
            file=node.source.file,
            field=f"{node.source.key} ({node.name}).attrs.layout",
            expected=wanted,
            found=layout,
        )


def _kernel(node: Node, op: str) -> list[int]:
    """``kernel`` (1 to 3 spatial dims, each >= 1), with ``layout`` checked against its rank."""
    kernel = A.get_ints(node, "kernel", minimum=1)
    nd = len(kernel)
    if nd not in (1, 2, 3):
        raise FormatError(f"{op} {node.name!r}: {nd}-d kernels are not supported",
                          file=node.source.file, field=f"{node.source.key}.attrs.kernel")
    _layout(node, nd)
    return kernel


@register("mxnet", "Convolution")
def mxnet_convolution(node: Node, ctx: LowerContext) -> nn.Module:
    """out = cross-correlation over ``kernel`` with symmetric zero ``pad``, ``stride``, ``dilate``,
    ``num_group`` groups (depthwise when num_group == C); size floor((H + 2p - d(k-1) - 1)/s) + 1.
    """
    kernel = _kernel(node, "Convolution")
    nd = len(kernel)
    weight = ctx.param(node, "weight")
    group = A.get_int(node, "num_group", 1, minimum=1)
    conv_cls: Any = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[nd - 1]
    conv = conv_cls(
        int(weight.shape[1]) * group,
        int(weight.shape[0]),
        tuple(kernel),
        stride=tuple(A.spatial(node, "stride", nd, 1, minimum=1)),
        padding=tuple(A.spatial(node, "pad", nd, 0)),
        dilation=tuple(A.spatial(node, "dilate", nd, 1, minimum=1)),
        groups=group,
        bias=ctx.has_param(node, "bias"),
    )
    conv.weight.data.copy_(weight)
    if conv.bias is not None:
        conv.bias.data.copy_(ctx.param(node, "bias"))
    return conv


class MXDeconvolution(nn.Module):
    """Transposed convolution cut to MXNet's output: pad/adj, or ``target_shape``."""

    def __init__(self, weight: Tensor, bias: Tensor | None, stride: list[int],
                 dilate: list[int], pad: list[int], adj: list[int], target: list[int],
                 groups: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)
        self.stride, self.dilate, self.pad, self.adj = stride, dilate, pad, adj
        self.target, self.groups = target, groups
        self.kernel = list(weight.shape[2:])

    def forward(self, x: Tensor) -> Tensor:
        nd = len(self.kernel)
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        full = fn(x, self.weight, None, self.stride, 0, 0, self.groups, self.dilate)
        for axis in range(nd):
            size_in = x.shape[2 + axis]
            span = self.stride[axis] * (size_in - 1) + self.dilate[axis] * (
                self.kernel[axis] - 1) + 1
            if self.target and self.target[axis] > 0:
                total = span - self.target[axis]
                start, length = (total + 1) // 2, self.target[axis]
            else:
                start = self.pad[axis]
                length = span - 2 * self.pad[axis] + self.adj[axis]
            extra = start + length - span
            dim = 2 + axis
            if extra > 0:  # adj beyond the last contribution: zeros (then bias)
                shape = list(full.shape)
                shape[dim] = extra
                full = torch.cat([full, full.new_zeros(shape)], dim)
            full = full.narrow(dim, start, length)
        if self.bias is not None:
            full = full + self.bias.reshape([1, -1] + [1] * nd)
        return full


@register("mxnet", "Deconvolution")
def mxnet_deconvolution(node: Node, ctx: LowerContext) -> nn.Module:
    """out size (H-1)s - 2p + d(k-1) + 1 + adj; with ``target_shape`` t: pad = ceil((that-t)/2),
    adj = (that - t) % 2 (MXNet InferPad); weight (C, F/g, k...), no_bias defaults to True.
    """
    kernel = _kernel(node, "Deconvolution")
    nd = len(kernel)
    target = A.get_ints(node, "target_shape", [], minimum=0)
    if target and len(target) != nd:
        raise FormatError(f"Deconvolution {node.name!r}: target_shape rank differs from kernel",
                          file=node.source.file, field=f"{node.source.key}.attrs.target_shape",
                          expected=nd, found=target)
    bias = ctx.param(node, "bias") if ctx.has_param(node, "bias") else None
    return MXDeconvolution(
        ctx.param(node, "weight"), bias,
        A.spatial(node, "stride", nd, 1, minimum=1), A.spatial(node, "dilate", nd, 1, minimum=1),
        A.spatial(node, "pad", nd, 0), A.spatial(node, "adj", nd, 0), target,
        A.get_int(node, "num_group", 1, minimum=1),
    )


@register("mxnet", "FullyConnected")
def mxnet_fully_connected(node: Node, ctx: LowerContext) -> nn.Module:
    """out = x W^T + b, x first flattened to (N, prod(rest)) when ``flatten`` (default True),
    else applied to the last axis.
    """
    weight = ctx.param(node, "weight")
    linear = nn.Linear(int(weight.shape[1]), int(weight.shape[0]),
                       bias=ctx.has_param(node, "bias"))
    linear.weight.data.copy_(weight)
    if linear.bias is not None:
        linear.bias.data.copy_(ctx.param(node, "bias"))
    if not A.get_bool(node, "flatten", True):
        return linear
    return nn.Sequential(nn.Flatten(1), linear)
