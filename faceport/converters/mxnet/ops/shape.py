"""Shape ops: Reshape, Flatten, Concat, Crop, slice_axis, slice, transpose, expand_dims."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.ir import Node
from faceport.registry import LowerContext, register


def reshape_dims(dims: list[Any], codes: list[int], reverse: bool) -> list[Any]:
    """MXNet's Reshape target from input ``dims`` and special ``codes`` (0 copy, -1 infer,
    -2 copy the rest, -3 merge two, -4 split one into the next two codes); ``-1`` is left
    for torch to infer. ``reverse`` matches codes from the right (not used with -4).
    """
    src = list(reversed(dims)) if reverse else list(dims)
    spec = list(reversed(codes)) if reverse else list(codes)
    out: list[Any] = []
    i = j = 0
    while j < len(spec):
        code = spec[j]
        if code == 0:
            out.append(src[i])
            i += 1
        elif code == -1:
            out.append(-1)
            i += 1
        elif code == -2:
            out.extend(src[i:])
            i = len(src)
        elif code == -3:
            out.append(src[i] * src[i + 1])
            i += 2
        elif code == -4:
            d1, d2 = spec[j + 1], spec[j + 2]
            if d1 == -1:
                d1 = src[i] // d2
            if d2 == -1:
                d2 = src[i] // d1
            out.extend([d1, d2])
            i += 1
            j += 2
        else:
            out.append(code)
            i += 1
        j += 1
    return list(reversed(out)) if reverse else out


class MXReshape(nn.Module):
    """Reshape with MXNet's special codes, resolved from the input's shape at run time."""

    def __init__(self, codes: list[int], reverse: bool) -> None:
        super().__init__()
        self.codes, self.reverse = codes, reverse

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(reshape_dims(list(x.shape), self.codes, self.reverse))


@register("mxnet", "Reshape", "reshape")
def mxnet_reshape(node: Node, ctx: LowerContext) -> nn.Module:
    """Target ``shape`` with codes 0 (copy dim), -1 (infer one), -2 (copy all remaining),
    -3 (product of two dims), -4 d1 d2 (split one dim, one may be -1); ``reverse`` from right.
    Legacy ``target_shape`` (0 = infer) with ``keep_highest`` keeps dim 0.
    """
    codes = A.get_ints(node, "shape", [])
    if not codes:
        target = A.get_ints(node, "target_shape", A.REQUIRED, minimum=0)
        codes = [-1 if d == 0 else d for d in target]
        if A.get_bool(node, "keep_highest", False):
            codes = [0, *codes]
    if _free_infers(codes) > 1 or any(c < -4 for c in codes):
        raise A.bad_attr(node, "shape", "at most one -1 and codes >= -4", codes)
    _check_codes(node, codes)
    reverse = A.get_bool(node, "reverse", False)
    if reverse and -4 in codes:
        raise A.bad_attr(node, "reverse", "False when the shape uses -4 (not supported)", True)
    return MXReshape(codes, reverse)


def _free_infers(codes: list[int]) -> int:
    """How many -1 codes ask for inference (those after a -4 are split sizes instead)."""
    count, j = 0, 0
    while j < len(codes):
        if codes[j] == -4:
            j += 3
            continue
        count += codes[j] == -1
        j += 1
    return count


def _check_codes(node: Node, codes: list[int]) -> None:
    j = 0
    while j < len(codes):
        if codes[j] == -4:
            pair = codes[j + 1 : j + 3]
            if len(pair) != 2 or pair.count(-1) > 1 or any(p < -1 or p == 0 for p in pair):
                raise A.bad_attr(node, "shape", "-4 followed by two sizes (one may be -1)", codes)
            j += 3
        else:
            j += 1


class MXFlatten(nn.Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


@register("mxnet", "Flatten", "flatten")
def mxnet_flatten(node: Node, ctx: LowerContext) -> nn.Module:
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...)."""
    return MXFlatten()


class MXConcat(nn.Module):
    """Concatenation along ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: Tensor) -> Tensor:
        return torch.cat(xs, self.dim)


@register("mxnet", "Concat", "concat")
def mxnet_concat(node: Node, ctx: LowerContext) -> nn.Module:
    """Concatenate the inputs along ``dim`` (default 1); other axes must agree."""
    return MXConcat(A.get_int(node, "dim", 1))


class MXCrop(nn.Module):
    """Crop H, W to the second input's (or ``h_w``) size at ``offset`` or centred."""

    def __init__(self, offset: list[int], h_w: list[int], center: bool) -> None:
        super().__init__()
        self.offset, self.h_w, self.center = offset, h_w, center

    def forward(self, x: Tensor, *like: Tensor) -> Tensor:
        h, w = (like[0].shape[2], like[0].shape[3]) if like else (self.h_w[0], self.h_w[1])
        if self.center:
            top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        else:
            top, left = self.offset[0], self.offset[1]
        return x[:, :, top : top + h, left : left + w]


@register("mxnet", "Crop")
def mxnet_crop(node: Node, ctx: LowerContext) -> nn.Module:
    """out = x[:, :, oy:oy+h, ox:ox+w], (h, w) from the 2nd input (num_args 2) or ``h_w``;
    (oy, ox) = ``offset`` (default 0, 0) or ((H-h)//2, (W-w)//2) with center_crop.
    """
    offset = A.get_ints(node, "offset", [0, 0], length=2, minimum=0)
    h_w = A.get_ints(node, "h_w", [0, 0], length=2, minimum=0)
    if len(node.inputs) == 1 and min(h_w) <= 0:
        raise A.bad_attr(node, "h_w", "positive (h, w) when Crop has one input", h_w)
    if len(node.inputs) > 2:
        raise A.bad_attr(node, "num_args", "1 or 2 inputs", len(node.inputs))
    return MXCrop(offset, h_w, A.get_bool(node, "center_crop", False))


class MXSlice(nn.Module):
    """Per-axis begin:end:step slicing (None = MXNet default); negative steps via flip."""

    def __init__(self, begin: list[int | None], end: list[int | None],
                 step: list[int | None]) -> None:
        super().__init__()
        self.begin, self.end, self.step = begin, end, step

    def forward(self, x: Tensor) -> Tensor:
        for axis, (b, e) in enumerate(zip(self.begin, self.end)):
            given = self.step[axis] if axis < len(self.step) else None
            s = 1 if given is None else given
            size = x.shape[axis]
            if s > 0:
                x = x[(slice(None),) * axis + (slice(b, e, s),)]
            else:
                idx = list(range(size))[slice(b, e, s)]
                x = x.index_select(axis, torch.tensor(idx, dtype=torch.long, device=x.device))
        return x


@register("mxnet", "slice", "crop", "_slice")
def mxnet_slice(node: Node, ctx: LowerContext) -> nn.Module:
    """x[b0:e0:s0, b1:e1:s1, ...] over the leading len(begin) axes, Python index rules
    (negative indices count from the end; None is the start/end for the step's sign).
    """
    begin = A.get_ints(node, "begin", allow_none=True)
    end = A.get_ints(node, "end", allow_none=True, length=len(begin))
    step = A.get_ints(node, "step", [], allow_none=True)
    if (step and len(step) != len(begin)) or any(s == 0 for s in step):
        raise A.bad_attr(node, "step", f"{len(begin)} non-zero steps", step)
    return MXSlice(begin, end, step)


@register("mxnet", "slice_axis")
def mxnet_slice_axis(node: Node, ctx: LowerContext) -> nn.Module:
    """x[..., begin:end, ...] along ``axis`` (end None = to the end; negatives from the end)."""
    axis = A.get_int(node, "axis")
    begin = A.get_int(node, "begin")
    end = A.get_int(node, "end", None)
    return MXAxisSlice(axis, begin, end)


class MXAxisSlice(nn.Module):
    """begin:end along one axis."""

    def __init__(self, axis: int, begin: int, end: int | None) -> None:
        super().__init__()
        self.axis, self.begin, self.end = axis, begin, end

    def forward(self, x: Tensor) -> Tensor:
        axis = self.axis % x.dim()
        return x[(slice(None),) * axis + (slice(self.begin, self.end),)]


class MXTranspose(nn.Module):
    """Permute axes (reverse them when ``axes`` is empty)."""

    def __init__(self, axes: list[int]) -> None:
        super().__init__()
        self.axes = axes

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.axes or list(range(x.dim() - 1, -1, -1)))


@register("mxnet", "transpose")
def mxnet_transpose(node: Node, ctx: LowerContext) -> nn.Module:
    """out axes = input axes permuted by ``axes`` (default: reversed, as numpy.transpose)."""
    return MXTranspose(A.get_ints(node, "axes", []))


class MXExpandDims(nn.Module):
    """Insert a unit axis at ``axis`` (numpy.expand_dims)."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(self.axis)


@register("mxnet", "expand_dims")
def mxnet_expand_dims(node: Node, ctx: LowerContext) -> nn.Module:
    """Insert a size-1 axis at ``axis`` (negative counts from the end of the output)."""
    return MXExpandDims(A.get_int(node, "axis"))
