"""Symbol <-> params cross-check: weight shapes against op attributes and channel counts.

MXNet infers every weight's shape from the op's attributes and the input's channel count
(Convolution weight ``(num_filter, C / num_group, *kernel)``, bias ``(num_filter,)``;
Deconvolution weight ``(C, num_filter / num_group, *kernel)``; FullyConnected weight
``(num_hidden, K)``; BatchNorm gamma/beta/moving_mean/moving_var ``(C,)`` along ``axis``;
PReLU gamma ``(C,)`` or ``(1,)``; bilinear UpSampling weight ``(num_filter, 1, k, k)``). A
checkpoint whose arrays disagree would fail in MXNet's ``bind``; here it is a FormatError that
names the node, the parameter, expected and found shapes.

The channel count (axis 1) is propagated through the graph where an op determines it; where it
cannot be known (after a Reshape, say) the check falls back to what the attributes alone fix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from faceport.converters.mxnet import attrs as A
from faceport.errors import FormatError
from faceport.ir import Node

#: ops whose output has the channel count of their first input
SAME_CHANNELS = frozenset(
    {"BatchNorm", "Activation", "LeakyReLU", "Pooling", "Crop", "Dropout", "identity", "_copy",
     "BlockGrad", "clip", "Cast", "SoftmaxActivation", "L2Normalization", "elemwise_add",
     "_Plus", "_plus", "elemwise_mul", "_plus_scalar", "_minus_scalar", "_mul_scalar",
     "_div_scalar", "_rminus_scalar", "_rdiv_scalar", "_PlusScalar", "_MinusScalar",
     "_MulScalar", "_DivScalar", "_RMinusScalar", "_RDivScalar", "_power_scalar",
     "_maximum_scalar", "_minimum_scalar", "relu", "sigmoid", "tanh", "softmax"}
)


def _check(node: Node, params: Mapping[str, np.ndarray], role: str, expected: tuple) -> None:
    """``expected`` may hold ``None`` for a dimension the attributes do not fix."""
    key = node.params.get(role)
    if key is None:
        return
    found = tuple(params[key].shape)
    if len(found) != len(expected) or any(
        e is not None and e != f for e, f in zip(expected, found)
    ):
        raise FormatError(
            f"parameter {key!r} ({role} of {node.op} {node.name!r}) has the wrong shape",
            file=node.source.file,
            field=f"{node.source.key} ({node.name}).{role}",
            expected=tuple("?" if e is None else e for e in expected),
            found=found,
        )


def _divisible(node: Node, what: str, value: int, group: int) -> None:
    if value % group:
        raise FormatError(
            f"{what} of {node.op} {node.name!r} is not divisible by num_group",
            file=node.source.file,
            field=f"{node.source.key} ({node.name}).attrs.num_group",
            expected=f"a divisor of {value}",
            found=group,
        )


def check_node(
    node: Node, params: Mapping[str, np.ndarray], channels: list[int | None]
) -> int | None:
    """Check ``node``'s weights given its inputs' channel counts; return its output's."""
    op, c_in = node.op, (channels[0] if channels else None)
    if op in ("Convolution", "Deconvolution"):
        kernel = A.get_ints(node, "kernel", minimum=1)
        filters = A.get_int(node, "num_filter", minimum=1)
        group = A.get_int(node, "num_group", 1, minimum=1)
        _divisible(node, "num_filter", filters, group)
        weight = params[node.params["weight"]]
        if weight.ndim != 2 + len(kernel):
            _check(node, params, "weight", (None, None, *kernel))
        if c_in is None:  # the graph input: its channel count is what the weight says
            c_in = int(weight.shape[0 if op == "Deconvolution" else 1]) * (
                1 if op == "Deconvolution" else group
            )
        _divisible(node, "input channel count", c_in, group)
        if op == "Convolution":
            _check(node, params, "weight", (filters, c_in // group, *kernel))
        else:
            _check(node, params, "weight", (c_in, filters // group, *kernel))
        _check(node, params, "bias", (filters,))
        return int(filters)
    if op == "FullyConnected":
        hidden = A.get_int(node, "num_hidden", minimum=1)
        _check(node, params, "weight", (hidden, None))
        _check(node, params, "bias", (hidden,))
        return int(hidden)
    if op == "BatchNorm":
        if A.get_int(node, "axis", 1) not in (1, -3):
            c_in = None  # channel count known only along axis 1
        for role in ("gamma", "beta", "moving_mean", "moving_var"):
            _check(node, params, role, (c_in,))
        return c_in
    if op == "LeakyReLU" and "gamma" in node.params:
        count = params[node.params["gamma"]].shape
        if count != (1,):
            _check(node, params, "gamma", (c_in,))
        return c_in
    if op == "UpSampling":
        if "weight" in node.params:
            scale = A.get_int(node, "scale", minimum=1)
            filters = A.get_int(node, "num_filter", minimum=1)
            kernel = 2 * scale - scale % 2
            _check(node, params, "weight", (filters, 1, kernel, kernel))
            return c_in
        if all(c is not None for c in channels):
            return int(sum(c for c in channels if c is not None))
        return None
    if op in ("Concat", "concat"):
        if A.get_int(node, "dim", 1) == 1 and all(c is not None for c in channels):
            return int(sum(c for c in channels if c is not None))
        return None
    if op in SAME_CHANNELS:
        return c_in
    return None
