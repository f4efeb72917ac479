"""Pooling and UpSampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.converters.mxnet.ops.conv import MXDeconvolution
from faceport.ir import Node
from faceport.registry import LowerContext, register


class MXPooling(nn.Module):
    """max / avg / sum pooling over 1-3 spatial axes (1-d runs as 2-d with a unit axis).

    torch's own pooling is used where it is exact (valid convention, pad <= kernel / 2).
    Otherwise the input is padded explicitly to MXNet's output size (torch's ceil mode drops a
    last window that starts in the padding, MXNet keeps it): max pads with the lowest float
    (an empty window gives -FLT_MAX, as MXNet), avg divides by a window count computed the
    same way from a mask (an empty window gives 0, as MXNet).
    """

    def __init__(self, kind: str, kernel: list[int], stride: list[int], pad: list[int],
                 ceil: bool, include_pad: bool, global_pool: bool) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride, self.pad = kind, kernel, stride, pad
        self.ceil, self.include_pad, self.global_pool = ceil, include_pad, global_pool

    def forward(self, x: Tensor) -> Tensor:
        if self.global_pool:
            dims = list(range(2, x.dim()))
            if self.kind == "max":
                return x.amax(dim=dims, keepdim=True)
            if self.kind == "avg":
                return x.mean(dim=dims, keepdim=True)
            return x.sum(dim=dims, keepdim=True)
        one_d = len(self.kernel) == 1
        kernel, stride, pad = self.kernel, self.stride, self.pad
        if one_d:
            x = x.unsqueeze(2)
            kernel, stride, pad = [1, *kernel], [1, *stride], [0, *pad]
        if not self.ceil and all(2 * p <= k for p, k in zip(pad, kernel)):
            y = self._torch_pool(x, kernel, stride, pad)
        else:
            y = self._padded_pool(x, kernel, stride, pad)
        return y.squeeze(2) if one_d else y

    def _torch_pool(self, x: Tensor, kernel: list[int], stride: list[int],
                    pad: list[int]) -> Tensor:
        if self.kind == "max":
            fn = F.max_pool2d if len(kernel) == 2 else F.max_pool3d
            return fn(x, kernel, stride, pad)
        afn = F.avg_pool2d if len(kernel) == 2 else F.avg_pool3d
        return afn(x, kernel, stride, pad, count_include_pad=self.include_pad,
                   divisor_override=1 if self.kind == "sum" else None)

    def _padded_pool(self, x: Tensor, kernel: list[int], stride: list[int],
                     pad: list[int]) -> Tensor:
        sizes = [int(d) for d in x.shape[2:]]
        extra = []
        for size, k, s, p in zip(sizes, kernel, stride, pad):
            span = size + 2 * p - k
            out = 1 + (-(-span // s) if self.ceil else span // s)
            extra.append(max(0, (out - 1) * s + k - (size + 2 * p)))
        widths: list[int] = []
        for p, e in zip(reversed(pad), reversed(extra)):  # F.pad lists the last axis first
            widths += [p, p + e]
        sum_fn = F.avg_pool2d if len(kernel) == 2 else F.avg_pool3d
        if self.kind == "max":
            lowest = float(torch.finfo(x.dtype).min)
            fn = F.max_pool2d if len(kernel) == 2 else F.max_pool3d
            return fn(F.pad(x, widths, value=lowest), kernel, stride)
        total = sum_fn(F.pad(x, widths), kernel, stride, divisor_override=1)
        if self.kind == "sum":
            return total
        ones = x.new_ones([1, 1, *sizes])
        if self.include_pad:  # window clipped to the padded input, never to the extra
            inner = [p for p in pad for _ in (0, 1)][::-1]
            mask = F.pad(F.pad(ones, inner, value=1.0),
                         [v for e in reversed(extra) for v in (0, e)])
        else:
            mask = F.pad(ones, widths)
        count = sum_fn(mask, kernel, stride, divisor_override=1)
        return total / count.clamp(min=1.0)


@register("mxnet", "Pooling")
def mxnet_pooling(node: Node, ctx: LowerContext) -> nn.Module:
    """max/avg/sum over ``kernel`` windows, symmetric ``pad``, ``stride`` (default 1); size
    floor((H+2p-k)/s)+1 (valid) or ceil(...)+1 (full, every window kept); avg divides by the
    window size clipped to the padded input (count_include_pad, default True) or by the
    in-image count (0 for an empty window); global_pool reduces all spatial axes.
    """
    kind = A.get_str(node, "pool_type", "max", ("max", "avg", "sum"))
    global_pool = A.get_bool(node, "global_pool", False)
    kernel = A.get_ints(node, "kernel", [] if global_pool else A.REQUIRED, minimum=1)
    nd = max(len(kernel), 1)
    if not global_pool and nd not in (1, 2, 3):
        raise A.bad_attr(node, "kernel", "1 to 3 spatial axes", kernel)
    convention = A.get_str(node, "pooling_convention", "valid", ("valid", "full"))
    include_pad = A.get_bool(node, "count_include_pad", True)
    return MXPooling(kind, kernel, A.spatial(node, "stride", nd, 1, minimum=1),
                     A.spatial(node, "pad", nd, 0), convention == "full", include_pad,
                     global_pool)


class MXUpSamplingNearest(nn.Module):
    """Nearest upsampling by an integer ``scale``: out[y, x] = in[y // s, x // s].

    Several inputs: each is resized to the first's size times ``scale`` and the results are
    concatenated along channels (MXNet's multi-input UpSampling).
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, *xs: Tensor) -> Tensor:
        first = F.interpolate(xs[0], scale_factor=float(self.scale), mode="nearest")
        if len(xs) == 1:
            return first
        size = first.shape[2:]
        rest = [F.interpolate(x, size=size, mode="nearest") for x in xs[1:]]
        return torch.cat([first, *rest], 1)


@register("mxnet", "UpSampling")
def mxnet_upsampling(node: Node, ctx: LowerContext) -> nn.Module:
    """nearest: repeat each pixel ``scale`` x ``scale``; bilinear: depthwise Deconvolution with
    the stored weight, kernel 2s - s % 2, stride s, pad ceil((s - 1) / 2), num_filter groups.
    """
    kind = A.get_str(node, "sample_type", choices=("nearest", "bilinear"))
    scale = A.get_int(node, "scale", minimum=1)
    if kind == "nearest":
        return MXUpSamplingNearest(scale)
    filters = A.get_int(node, "num_filter", minimum=1)
    pad = math.ceil((scale - 1) / 2)
    return MXDeconvolution(ctx.param(node, "weight"), None, [scale, scale], [1, 1], [pad, pad],
                           [0, 0], [], filters)
