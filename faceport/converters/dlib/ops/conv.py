"""dlib's learned linear layers: ``con``, ``cont``, ``fc``/``fc_no_bias`` and ``linear``.

dlib tensors are (N, k, nr, nc) float32, like torch's NCHW, and dlib's convolution is a
cross-correlation (img2col times the filter matrix, no kernel flip), so its weights go
into ``torch.nn.functional.conv2d`` unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from faceport.converters.dlib.ops._common import bool_attr, int_attr, param, vector_param
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext


def _window(node: Node) -> tuple[int, int, int, int]:
    """(stride_y, stride_x, padding_y, padding_x); dlib's default padding is nr/2 (nc/2)
    when the stride along that axis is 1, else 0 (``con_``/``max_pool_`` template defaults)."""
    sy = int_attr(node, "stride_y", 1, minimum=1)
    sx = int_attr(node, "stride_x", 1, minimum=1)
    nr = int_attr(node, "nr", 0, minimum=0)
    nc = int_attr(node, "nc", 0, minimum=0)
    py = int_attr(node, "padding_y", nr // 2 if sy == 1 else 0, minimum=0)
    px = int_attr(node, "padding_x", nc // 2 if sx == 1 else 0, minimum=0)
    return sy, sx, py, px


def _bias(node: Node, ctx: LowerContext, count: int, flag: str = "use_bias") -> torch.Tensor | None:
    """The (count,) ``bias`` param when attr ``flag`` (default true) is set and it is stored."""
    if bool_attr(node, flag, True) and ctx.has_param(node, "bias"):
        return vector_param(node, ctx, "bias", count)
    return None


class _WindowedConv(nn.Module):
    """Weight, optional bias, stride and padding shared by ``con`` and ``cont``."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)
        self.stride = stride
        self.padding = padding


class DlibConv(_WindowedConv):
    """Cross-correlation plus per-filter bias, then ReLU when dlib fused one in."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        relu: bool,
    ) -> None:
        super().__init__(weight, bias, stride, padding)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return F.relu(y) if self.relu else y

    def extra_repr(self) -> str:
        return f"weight={tuple(self.weight.shape)}, stride={self.stride}, pad={self.padding}"


class DlibConvDepthwiseSum(DlibConv):
    """A single-filter ``con`` computed as a depthwise convolution (one group per input
    channel) summed over channels, plus the bias (``faceport.passes_layout``): the same sum
    in another order, for kernels that handle one output channel badly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = self.weight.shape[1]
        depthwise = self.weight.reshape(channels, 1, *self.weight.shape[2:])
        y = F.conv2d(x, depthwise, None, self.stride, self.padding, groups=channels)
        y = y.sum(dim=1, keepdim=True)
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return F.relu(y) if self.relu else y


@register("dlib", "con")
def dlib_con(node: Node, ctx: LowerContext) -> nn.Module:
    """con: cross-correlation, zero padding (padding_y, padding_x), out = 1+(H+2p-nr)//stride
    (floor), + bias; ReLU after the bias iff use_bias and use_relu (dlib 20 fuses relu only on
    the biased path); nr/nc = 0 means the filter spans the whole input (weight shape rules)."""
    num_filters = int_attr(node, "num_filters", minimum=1)
    nr = int_attr(node, "nr", 0, minimum=0) or None  # 0: whole input, size from the weight
    nc = int_attr(node, "nc", 0, minimum=0) or None
    weight = param(node, ctx, "weight", (num_filters, None, nr, nc))
    bias = _bias(node, ctx, num_filters)
    sy, sx, py, px = _window(node)
    relu = bias is not None and bool_attr(node, "use_relu", False)
    if num_filters == 1 and bool_attr(node, "faceport_depthwise_sum", False):
        return DlibConvDepthwiseSum(weight, bias, (sy, sx), (py, px), relu)
    return DlibConv(weight, bias, (sy, sx), (py, px), relu)


class DlibConvTranspose(_WindowedConv):
    """Transposed convolution (dlib computes it as conv's gradient w.r.t. its input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding)


@register("dlib", "cont")
def dlib_cont(node: Node, ctx: LowerContext) -> nn.Module:
    """cont: transposed conv (adjoint of con), out = stride*(H-1) + nr - 2*padding, no output
    padding; weight (k_in, num_filters, nr, nc) is torch's conv_transpose layout; + bias."""
    num_filters = int_attr(node, "num_filters", minimum=1)
    nr = int_attr(node, "nr", minimum=1)
    nc = int_attr(node, "nc", minimum=1)
    weight = param(node, ctx, "weight", (None, num_filters, nr, nc))
    bias = _bias(node, ctx, num_filters)
    sy, sx, py, px = _window(node)
    return DlibConvTranspose(weight, bias, (sy, sx), (py, px))


class DlibFullyConnected(nn.Module):
    """(N, k, nr, nc) flattened per sample, times W, plus b: output (N, num_outputs, 1, 1)."""

    def __init__(self, weight_t: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight_t)  # torch layout (num_outputs, num_inputs)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(torch.flatten(x, 1), self.weight, self.bias)
        return y.reshape(y.shape[0], y.shape[1], 1, 1)


@register("dlib", "fc", "fc_no_bias")
def dlib_fc(node: Node, ctx: LowerContext) -> nn.Module:
    """fc: y = flatten(x) @ W + b with W (num_inputs, num_outputs) (dlib's layout; transposed
    here), num_inputs = k*nr*nc of the input; output is a (N, num_outputs, 1, 1) tensor."""
    num_outputs = int_attr(node, "num_outputs", minimum=1)
    weight = param(node, ctx, "weight", (None, num_outputs))
    bias = _bias(node, ctx, num_outputs) if node.op == "fc" else None
    return DlibFullyConnected(weight.t().contiguous(), bias)


class DlibLinear(nn.Module):
    """Last-axis matrix product: (N, k, nr, num_inputs) -> (N, k, nr, num_outputs)."""

    def __init__(self, weight_t: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight_t)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


@register("dlib", "linear")
def dlib_linear(node: Node, ctx: LowerContext) -> nn.Module:
    """linear: y[n,k,r,:] = x[n,k,r,:] @ W + b over the last (nc) axis only, W (num_inputs,
    num_outputs), bias iff attr bias='true' (dlib 20's transformer linear layer)."""
    num_outputs = int_attr(node, "num_outputs", minimum=1)
    weight = param(node, ctx, "weight", (None, num_outputs))
    bias = _bias(node, ctx, num_outputs, flag="bias")
    return DlibLinear(weight.t().contiguous(), bias)
