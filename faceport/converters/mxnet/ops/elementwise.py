"""Element-wise ops: binary (same-shape and broadcasting), with-scalar, clip, Cast, identities."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.ir import Node
from faceport.registry import LowerContext, register

_TORCH_DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
    "uint8": torch.uint8, "int32": torch.int32, "int8": torch.int8, "int64": torch.int64,
}


class MXBinary(nn.Module):
    """a <op> b for add, sub, mul, div (torch broadcasting = MXNet broadcast_* rules)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if self.kind == "add":
            return a + b
        if self.kind == "sub":
            return a - b
        if self.kind == "mul":
            return a * b
        return a / b


class MXSum(nn.Module):
    """Sum of any number of same-shape inputs."""

    def forward(self, *xs: Tensor) -> Tensor:
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


def _binary(node: Node, kind: str) -> nn.Module:
    if len(node.inputs) != 2:
        raise A.bad_attr(node, "inputs", "2 inputs", len(node.inputs))
    return MXBinary(kind)


@register("mxnet", "elemwise_add", "_Plus", "_plus", "_add")
def mxnet_elemwise_add(node: Node, ctx: LowerContext) -> nn.Module:
    """a + b, both the same shape."""
    return _binary(node, "add")


@register("mxnet", "elemwise_sub", "_Minus", "_minus", "_sub")
def mxnet_elemwise_sub(node: Node, ctx: LowerContext) -> nn.Module:
    """a - b, both the same shape."""
    return _binary(node, "sub")


@register("mxnet", "elemwise_mul", "_Mul", "_mul")
def mxnet_elemwise_mul(node: Node, ctx: LowerContext) -> nn.Module:
    """a * b, both the same shape."""
    return _binary(node, "mul")


@register("mxnet", "elemwise_div", "_Div", "_div")
def mxnet_elemwise_div(node: Node, ctx: LowerContext) -> nn.Module:
    """a / b, both the same shape."""
    return _binary(node, "div")


@register("mxnet", "broadcast_add", "broadcast_plus")
def mxnet_broadcast_add(node: Node, ctx: LowerContext) -> nn.Module:
    """a + b with numpy broadcasting (size-1 axes stretch)."""
    return _binary(node, "add")


@register("mxnet", "broadcast_sub", "broadcast_minus")
def mxnet_broadcast_sub(node: Node, ctx: LowerContext) -> nn.Module:
    """a - b with numpy broadcasting."""
    return _binary(node, "sub")


@register("mxnet", "broadcast_mul")
def mxnet_broadcast_mul(node: Node, ctx: LowerContext) -> nn.Module:
    """a * b with numpy broadcasting."""
    return _binary(node, "mul")


@register("mxnet", "broadcast_div")
def mxnet_broadcast_div(node: Node, ctx: LowerContext) -> nn.Module:
    """a / b with numpy broadcasting."""
    return _binary(node, "div")


@register("mxnet", "add_n", "ElementWiseSum")
def mxnet_add_n(node: Node, ctx: LowerContext) -> nn.Module:
    """x1 + x2 + ... + xn, all the same shape."""
    return MXSum()


class MXScalar(nn.Module):
    """x <op> scalar (or scalar <op> x for the reversed kinds)."""

    def __init__(self, kind: str, scalar: float) -> None:
        super().__init__()
        self.kind, self.scalar = kind, scalar

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kind, self.scalar
        if k == "plus":
            return x + s
        if k == "minus":
            return x - s
        if k == "rminus":
            return s - x
        if k == "mul":
            return x * s
        if k == "div":
            return x / s
        if k == "rdiv":
            return s / x
        if k == "power":
            return torch.pow(x, s)
        if k == "rpower":
            return torch.pow(torch.full_like(x, s), x)
        if k == "maximum":
            return torch.clamp(x, min=s)
        return torch.clamp(x, max=s)


def _scalar(node: Node, kind: str) -> nn.Module:
    return MXScalar(kind, A.get_float(node, "scalar", 1.0))


@register("mxnet", "_plus_scalar", "_PlusScalar")
def mxnet_plus_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """x + scalar (scalar cast to x's dtype, float32)."""
    return _scalar(node, "plus")


@register("mxnet", "_minus_scalar", "_MinusScalar")
def mxnet_minus_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """x - scalar."""
    return _scalar(node, "minus")


@register("mxnet", "_rminus_scalar", "_RMinusScalar")
def mxnet_rminus_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """scalar - x."""
    return _scalar(node, "rminus")


@register("mxnet", "_mul_scalar", "_MulScalar")
def mxnet_mul_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """x * scalar."""
    return _scalar(node, "mul")


@register("mxnet", "_div_scalar", "_DivScalar")
def mxnet_div_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """x / scalar."""
    return _scalar(node, "div")


@register("mxnet", "_rdiv_scalar", "_RDivScalar")
def mxnet_rdiv_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """scalar / x."""
    return _scalar(node, "rdiv")


@register("mxnet", "_power_scalar", "_PowerScalar")
def mxnet_power_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """x ** scalar."""
    return _scalar(node, "power")


@register("mxnet", "_rpower_scalar", "_RPowerScalar")
def mxnet_rpower_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """scalar ** x."""
    return _scalar(node, "rpower")


@register("mxnet", "_maximum_scalar", "_MaximumScalar")
def mxnet_maximum_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """max(x, scalar)."""
    return _scalar(node, "maximum")


@register("mxnet", "_minimum_scalar", "_MinimumScalar")
def mxnet_minimum_scalar(node: Node, ctx: LowerContext) -> nn.Module:
    """min(x, scalar)."""
    return _scalar(node, "minimum")


class MXClip(nn.Module):
    """min(max(x, a_min), a_max)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: Tensor) -> Tensor:
        return torch.clamp(x, self.low, self.high)


@register("mxnet", "clip")
def mxnet_clip(node: Node, ctx: LowerContext) -> nn.Module:
    """min(max(x, a_min), a_max); both bounds required."""
    return MXClip(A.get_float(node, "a_min"), A.get_float(node, "a_max"))


class MXCast(nn.Module):
    """Convert to ``dtype``."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        return x.to(self.dtype)


@register("mxnet", "Cast", "cast")
def mxnet_cast(node: Node, ctx: LowerContext) -> nn.Module:
    """Convert to ``dtype`` (float32, float64, float16, uint8, int32, int8, int64; float to int
    truncates toward zero)."""
    name = A.get_str(node, "dtype", choices=tuple(_TORCH_DTYPES))
    return MXCast(_TORCH_DTYPES[name])


@register("mxnet", "identity", "_copy", "BlockGrad", "stop_gradient", "make_loss", "MakeLoss")
def mxnet_identity(node: Node, ctx: LowerContext) -> nn.Module:
    """out = x (gradient-only ops are identities at inference)."""
    return nn.Identity()


@register("mxnet", "Dropout")
def mxnet_dropout(node: Node, ctx: LowerContext) -> nn.Module:
    """Identity at inference (mode 'training', the default); mode 'always' drops at inference
    too, which is random and not converted.
    """
    A.get_str(node, "mode", "training", ("training",))
    return nn.Identity()
