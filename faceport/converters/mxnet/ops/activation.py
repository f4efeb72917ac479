"""Activation, LeakyReLU (all act_types at inference), softmax and the output (loss) ops."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faceport.converters.mxnet import attrs as A
from faceport.ir import Node
from faceport.registry import LowerContext, register


class MXActivation(nn.Module):
    """One element-wise nonlinearity chosen by name."""

    def __init__(self, kind: str, slope: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        kind = self.kind
        if kind == "relu":
            return F.relu(x)
        if kind == "sigmoid":
            return torch.sigmoid(x)
        if kind == "tanh":
            return torch.tanh(x)
        if kind == "softrelu":
            return F.softplus(x)
        if kind == "softsign":
            return F.softsign(x)
        if kind == "log_sigmoid":
            return F.logsigmoid(x)
        if kind == "mish":
            return F.mish(x)
        if kind == "leaky":
            return F.leaky_relu(x, self.slope)
        if kind == "elu":
            return F.elu(x, self.slope)
        if kind == "selu":
            return F.selu(x)
        if kind == "gelu":
            return F.gelu(x)
        if kind == "identity":
            return x
        raise AssertionError(kind)


@register("mxnet", "Activation")
def mxnet_activation(node: Node, ctx: LowerContext) -> nn.Module:
    """relu max(x,0) | sigmoid 1/(1+e^-x) | tanh | softrelu log(1+e^x) (x if x > 20) |
    softsign x/(1+|x|) | log_sigmoid | mish, chosen by ``act_type``.
    """
    kinds = ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish")
    return MXActivation(A.get_str(node, "act_type", choices=kinds))


class MXPReLU(nn.Module):
    """x if x > 0 else gamma * x, gamma per channel (axis 1) or one shared value."""

    def __init__(self, gamma: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(gamma.reshape(-1))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)


@register("mxnet", "LeakyReLU")
def mxnet_leaky_relu(node: Node, ctx: LowerContext) -> nn.Module:
    """leaky: x>0 ? x : slope*x (slope 0.25) | prelu: learned gamma on axis 1 | elu:
    x>0 ? x : slope*(e^x-1) | selu (lambda 1.0507, alpha 1.67326) | gelu (erf form) |
    rrelu at inference: leaky with slope (lower_bound + upper_bound) / 2 (0.125, 0.334).
    """
    kinds = ("leaky", "prelu", "elu", "selu", "gelu", "rrelu")
    kind = A.get_str(node, "act_type", "leaky", kinds)
    slope = A.get_float(node, "slope", 0.25)
    if kind == "prelu":
        return MXPReLU(ctx.param(node, "gamma"))
    if kind == "rrelu":
        lower = A.get_float(node, "lower_bound", 0.125)
        upper = A.get_float(node, "upper_bound", 0.334)
        return MXActivation("leaky", (lower + upper) / 2)
    return MXActivation(kind, slope)


class MXSoftmax(nn.Module):
    """Softmax (or log-softmax) over one axis, optionally of x / temperature."""

    def __init__(self, axis: int, temperature: float = 1.0, log: bool = False) -> None:
        super().__init__()
        self.axis, self.temperature, self.log = axis, temperature, log

    def forward(self, x: Tensor) -> Tensor:
        if self.temperature != 1.0:
            x = x / self.temperature
        return F.log_softmax(x, self.axis) if self.log else F.softmax(x, self.axis)


def _softmax_axis(node: Node, ctx: LowerContext, log: bool) -> nn.Module:
    if A.get_bool(node, "use_length", False):
        raise A.bad_attr(node, "use_length", "False (masked softmax is not supported)", True)
    temperature = A.get_float(node, "temperature", None)
    return MXSoftmax(A.get_int(node, "axis", -1), 1.0 if temperature is None else temperature,
                     log=log)


@register("mxnet", "softmax")
def mxnet_softmax(node: Node, ctx: LowerContext) -> nn.Module:
    """exp(x/T) / sum(exp(x/T)) along ``axis`` (default -1), temperature T default 1."""
    return _softmax_axis(node, ctx, log=False)


@register("mxnet", "log_softmax")
def mxnet_log_softmax(node: Node, ctx: LowerContext) -> nn.Module:
    """log(softmax(x/T)) along ``axis`` (default -1)."""
    return _softmax_axis(node, ctx, log=True)


@register("mxnet", "SoftmaxActivation")
def mxnet_softmax_activation(node: Node, ctx: LowerContext) -> nn.Module:
    """mode instance (default): softmax over the last axis (mshadow FlatTo2D keeps the last
    axis; for (N, K) input that is per instance); mode channel: softmax over axis 1.
    """
    mode = A.get_str(node, "mode", "instance", ("instance", "channel"))
    return MXSoftmax(-1 if mode == "instance" else 1)


@register("mxnet", "SoftmaxOutput", "Softmax")
def mxnet_softmax_output(node: Node, ctx: LowerContext) -> nn.Module:
    """Inference forward of the loss op: softmax over the last axis (label shape = data shape
    without it; preserve_shape is the same); multi_output: over axis 1. Label dropped.
    """
    if A.get_bool(node, "multi_output", False):
        return MXSoftmax(1)
    return MXSoftmax(-1)


@register("mxnet", "LinearRegressionOutput", "MAERegressionOutput")
def mxnet_regression_output(node: Node, ctx: LowerContext) -> nn.Module:
    """Inference forward of a regression loss op: identity (the label input is dropped)."""
    return MXActivation("identity")


@register("mxnet", "LogisticRegressionOutput")
def mxnet_logistic_regression_output(node: Node, ctx: LowerContext) -> nn.Module:
    """Inference forward: sigmoid(x) = 1 / (1 + e^-x) (the label input is dropped)."""
    return MXActivation("sigmoid")
