"""One-op MXNet graphs with seeded random attributes (runs in .venv-mxnet).

Each generator ``gen_<op>(rng, draw)`` returns ``(symbol, inputs)``: a symbol whose only
operator node is the op under test (plus its variables) and the input arrays by name. Several
draws per op cover the attribute space (padding, strides, groups, modes, special reshape
codes...). ``ALIASES`` are ops MXNet writes under their canonical name; the driver rewrites
the JSON ``op`` field so the alias itself is what the reader sees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mxnet as mx
import numpy as np

Case = tuple[Any, dict[str, np.ndarray]]
Rng = np.random.RandomState


def _x(rng: Rng, *shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float32)


def _var(name: str = "data") -> Any:
    return mx.sym.Variable(name)


def _nchw(rng: Rng, c: int | None = None, lo: int = 6, hi: int = 15) -> tuple[int, ...]:
    return (int(rng.randint(1, 3)), c or int(rng.randint(1, 6)), int(rng.randint(lo, hi)),
            int(rng.randint(lo, hi)))


def gen_convolution(rng: Rng, draw: int) -> Case:
    c_in = int(rng.choice([1, 2, 3, 4, 6]))
    group = c_in if draw == 2 else int(rng.choice([g for g in (1, 2) if c_in % g == 0]))
    num_filter = group * int(rng.randint(1, 4))
    k = (int(rng.randint(1, 6)), int(rng.randint(1, 6)))
    dilate = (int(rng.randint(1, 3)), int(rng.randint(1, 3)))
    pad = (int(rng.randint(0, k[0] // 2 + 2)), int(rng.randint(0, k[1] // 2 + 2)))
    stride = (int(rng.randint(1, 4)), int(rng.randint(1, 4)))
    shape = _nchw(rng, c_in, lo=12, hi=20)
    sym = mx.sym.Convolution(_var(), name="conv", num_filter=num_filter, kernel=k, pad=pad,
                             stride=stride, dilate=dilate, num_group=group,
                             no_bias=bool(rng.randint(2)))
    return sym, {"data": _x(rng, *shape)}


def gen_deconvolution(rng: Rng, draw: int) -> Case:
    c_in = int(rng.choice([2, 4]))
    group = int(rng.choice([1, 2]))
    k = (int(rng.randint(1, 5)), int(rng.randint(1, 5)))
    stride = (int(rng.randint(1, 4)), int(rng.randint(1, 4)))
    pad = (int(rng.randint(0, (k[0] + 1) // 2)), int(rng.randint(0, (k[1] + 1) // 2)))
    adj = (int(rng.randint(0, stride[0])), int(rng.randint(0, stride[1])))
    sym = mx.sym.Deconvolution(_var(), name="deconv", num_filter=group * int(rng.randint(1, 3)),
                               kernel=k, stride=stride, pad=pad, adj=adj, num_group=group,
                               no_bias=draw != 1)
    return sym, {"data": _x(rng, *_nchw(rng, c_in, lo=4, hi=9))}


def gen_batchnorm(rng: Rng, draw: int) -> Case:
    eps = float(rng.choice([1e-5, 2e-5, 1e-3, 0.1]))
    shape = _nchw(rng) if draw < 2 else (3, int(rng.randint(2, 7)))
    sym = mx.sym.BatchNorm(_var(), name="bn", fix_gamma=draw == 0, eps=eps,
                           use_global_stats=bool(rng.randint(2)), momentum=0.9)
    return sym, {"data": _x(rng, *shape)}


ACTIVATIONS = ("relu", "sigmoid", "tanh", "softrelu", "softsign")


def gen_activation(rng: Rng, draw: int) -> Case:
    sym = mx.sym.Activation(_var(), name="act", act_type=ACTIVATIONS[draw % len(ACTIVATIONS)])
    return sym, {"data": _x(rng, *_nchw(rng), low=-6, high=6)}


LEAKY = ("leaky", "prelu", "elu", "selu", "gelu", "rrelu")


def gen_leakyrelu(rng: Rng, draw: int) -> Case:
    act = LEAKY[draw % len(LEAKY)]
    kwargs: dict[str, Any] = {"act_type": act}
    if act in ("leaky", "elu"):
        kwargs["slope"] = float(np.round(rng.uniform(0.01, 1.5), 4))
    if act == "rrelu":
        kwargs.update(lower_bound=0.1, upper_bound=0.4)
    args = [_var()] + ([_var("lrelu_gamma")] if act == "prelu" else [])
    sym = mx.sym.LeakyReLU(*args, name="lrelu", **kwargs)
    return sym, {"data": _x(rng, *_nchw(rng), low=-4, high=4)}


def gen_pooling(rng: Rng, draw: int) -> Case:
    pool_type = ("max", "avg", "sum")[draw % 3]
    shape = _nchw(rng, lo=7, hi=16)
    if draw == 5:
        sym = mx.sym.Pooling(_var(), name="pool", kernel=(1, 1), global_pool=True,
                             pool_type=str(rng.choice(["max", "avg"])))
        return sym, {"data": _x(rng, *shape)}
    k = (int(rng.randint(1, 5)), int(rng.randint(1, 5)))
    pad = (int(rng.randint(0, k[0])), int(rng.randint(0, k[1])))
    pad = (min(pad[0], k[0] // 2), min(pad[1], k[1] // 2))
    stride = (int(rng.randint(1, 4)), int(rng.randint(1, 4)))
    kwargs: dict[str, Any] = {}
    if pool_type == "avg":
        kwargs["count_include_pad"] = bool(rng.randint(2))
    sym = mx.sym.Pooling(_var(), name="pool", kernel=k, pad=pad, stride=stride,
                         pool_type=pool_type, pooling_convention=("valid", "full")[draw // 3 % 2],
                         **kwargs)
    return sym, {"data": _x(rng, *shape)}


def gen_upsampling(rng: Rng, draw: int) -> Case:
    sym = mx.sym.UpSampling(_var(), name="up", scale=int(rng.randint(1, 5)),
                            sample_type="nearest", num_args=1)
    return sym, {"data": _x(rng, *_nchw(rng, lo=2, hi=8))}


def gen_crop(rng: Rng, draw: int) -> Case:
    n, c, h, w = _nchw(rng, lo=8, hi=14)
    th, tw = int(rng.randint(1, h + 1)), int(rng.randint(1, w + 1))
    if draw == 2:
        offset = (int(rng.randint(0, h - th + 1)), int(rng.randint(0, w - tw + 1)))
        sym = mx.sym.Crop(_var(), name="crop", num_args=1, h_w=(th, tw), offset=offset)
        return sym, {"data": _x(rng, n, c, h, w)}
    kwargs: dict[str, Any] = {"center_crop": True} if draw == 1 else {
        "offset": (int(rng.randint(0, h - th + 1)), int(rng.randint(0, w - tw + 1)))}
    sym = mx.sym.Crop(_var(), _var("like"), name="crop", num_args=2, **kwargs)
    return sym, {"data": _x(rng, n, c, h, w), "like": _x(rng, n, 1, th, tw)}


def gen_concat(rng: Rng, draw: int) -> Case:
    base = list(_nchw(rng, lo=2, hi=6))
    dim = (1, 2, 3, 0, -1)[draw % 5]
    count = int(rng.randint(2, 4))
    inputs = {}
    for i in range(count):
        shape = list(base)
        shape[dim] = int(rng.randint(1, 4))
        inputs[f"in{i}"] = _x(rng, *shape)
    sym = mx.sym.Concat(*[_var(k) for k in inputs], name="concat", dim=dim, num_args=count)
    return sym, inputs


def _binary(op: Callable[..., Any]) -> Callable[[Rng, int], Case]:
    def gen(rng: Rng, draw: int) -> Case:
        shape = _nchw(rng, lo=2, hi=7)
        return op(_var("a"), _var("b"), name="binop"), {"a": _x(rng, *shape), "b": _x(rng, *shape)}

    return gen


def _broadcast(op: Callable[..., Any], positive_rhs: bool = False) -> Callable[[Rng, int], Case]:
    def gen(rng: Rng, draw: int) -> Case:
        a = _nchw(rng, lo=2, hi=6)
        b = tuple(1 if rng.randint(2) else d for d in a)
        if draw == 1:
            a, b = b, a
        lo = 0.5 if positive_rhs else -2.0
        sym = op(_var("a"), _var("b"), name="bcast")
        return sym, {"a": _x(rng, *a), "b": _x(rng, *b, low=lo)}

    return gen


SCALAR_OPS = ("_plus_scalar", "_minus_scalar", "_rminus_scalar", "_mul_scalar", "_div_scalar",
              "_rdiv_scalar", "_maximum_scalar", "_minimum_scalar", "_power_scalar",
              "_rpower_scalar")


def _scalar(op: str) -> Callable[[Rng, int], Case]:
    def gen(rng: Rng, draw: int) -> Case:
        scalar = float(np.round(rng.uniform(-3, 3), 3))
        low = -2.0
        if op in ("_rdiv_scalar", "_power_scalar"):
            low = 0.5  # positive base / non-zero divisor
        if op == "_power_scalar":
            scalar = float(rng.choice([2.0, 3.0, 0.5, -1.0]))
        if op == "_rpower_scalar":
            scalar = float(rng.choice([2.0, 0.5, 3.0]))
        if op == "_div_scalar" and scalar == 0:
            scalar = 1.5
        sym = getattr(mx.sym._internal, op)(_var(), scalar=scalar, name="scalar")
        return sym, {"data": _x(rng, *_nchw(rng, lo=2, hi=6), low=low, high=2.0)}

    return gen


# (input shape, target shape, reverse): every MXNet special code 0, -1, -2, -3, -4
RESHAPES = (
    ((2, 3, 4, 5), (0, -1), False),
    ((2, 3, 4, 5), (-1,), False),
    ((2, 3, 4, 5), (0, 0, -1), False),
    ((2, 3, 4, 5), (-3, -2), False),
    ((2, 3, 4, 5), (0, -3, 0), False),
    ((2, 3, 4, 5), (-4, 1, 2, -2), False),
    ((2, 6, 4, 5), (0, -4, -1, 2, -2), False),
    ((2, 3, 4, 5), (0, 2, -1, 0), False),
    ((2, 3, 4, 5), (-1, 0), True),
    ((2, 3, 4, 5), (0, -1, 0), True),
    ((2, 3, 4, 5), (0, 0, -2), False),
    ((3, 4, 5), (-3, 5), False),
)


def gen_reshape(rng: Rng, draw: int) -> Case:
    shape, target, reverse = RESHAPES[draw % len(RESHAPES)]
    sym = mx.sym.Reshape(_var(), name="reshape", shape=target, reverse=reverse)
    return sym, {"data": _x(rng, *shape)}


def gen_flatten(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=5)[: 4 - draw % 2]
    return mx.sym.Flatten(_var(), name="flatten"), {"data": _x(rng, *shape)}


def gen_fullyconnected(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=5)[: 4 - draw % 3]
    sym = mx.sym.FullyConnected(_var(), name="fc", num_hidden=int(rng.randint(1, 9)),
                                no_bias=draw == 1, flatten=draw != 2)
    return sym, {"data": _x(rng, *shape)}


def gen_softmaxactivation(rng: Rng, draw: int) -> Case:
    mode = ("instance", "channel")[draw % 2]
    shape = _nchw(rng, lo=2, hi=6) if draw < 2 else (3, int(rng.randint(2, 9)))
    sym = mx.sym.SoftmaxActivation(_var(), name="softmax_act", mode=mode)
    return sym, {"data": _x(rng, *shape, low=-5, high=5)}


def gen_softmax(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=6)
    kwargs: dict[str, Any] = {"axis": int((-1, 1, 2, 0)[draw % 4])}
    if draw == 2:
        kwargs["temperature"] = float(np.round(rng.uniform(0.5, 3.0), 3))
    return mx.sym.softmax(_var(), name="softmax", **kwargs), {"data": _x(rng, *shape, low=-5,
                                                                          high=5)}


def gen_softmaxoutput(rng: Rng, draw: int) -> Case:
    shapes = ((4, 7), _nchw(rng, lo=2, hi=5), (2, 3, 5), _nchw(rng, lo=2, hi=5))
    kwargs = ({}, {"multi_output": True}, {"preserve_shape": True}, {})[draw % 4]
    sym = mx.sym.SoftmaxOutput(_var(), name="softmax_out", **kwargs)
    return sym, {"data": _x(rng, *shapes[draw % 4], low=-5, high=5)}


def gen_linearregressionoutput(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng)[: 4 - draw]
    return mx.sym.LinearRegressionOutput(_var(), name="lro"), {"data": _x(rng, *shape)}


def gen_regression(op: Callable[..., Any]) -> Callable[[Rng, int], Case]:
    def gen(rng: Rng, draw: int) -> Case:
        return op(_var(), name="regression"), {"data": _x(rng, *_nchw(rng)[: 4 - draw])}

    return gen


def gen_makeloss(rng: Rng, draw: int) -> Case:
    sym = mx.sym.MakeLoss(_var(), name="makeloss", grad_scale=float(rng.uniform(0.5, 2.0)),
                          normalization=("null", "batch", "valid")[draw % 3])
    return sym, {"data": _x(rng, *_nchw(rng))}


def gen_add_n(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=6)
    count = draw + 2
    inputs = {f"in{i}": _x(rng, *shape) for i in range(count)}
    sym = mx.sym.add_n(*[_var(k) for k in inputs], name="add_n", num_args=count)
    return sym, inputs


def gen_log_softmax(rng: Rng, draw: int) -> Case:
    sym = mx.sym.log_softmax(_var(), name="log_softmax", axis=(-1, 1)[draw % 2])
    return sym, {"data": _x(rng, *_nchw(rng, lo=2, hi=6), low=-5, high=5)}


def gen_dropout(rng: Rng, draw: int) -> Case:
    sym = mx.sym.Dropout(_var(), name="drop", p=float(np.round(rng.uniform(0.1, 0.9), 3)))
    return sym, {"data": _x(rng, *_nchw(rng))}


def _unary(op: Callable[..., Any]) -> Callable[[Rng, int], Case]:
    def gen(rng: Rng, draw: int) -> Case:
        return op(_var(), name="unary"), {"data": _x(rng, *_nchw(rng)[: 4 - draw])}

    return gen


def gen_clip(rng: Rng, draw: int) -> Case:
    lo = float(np.round(rng.uniform(-1.5, 0.5), 3))
    hi = float(np.round(lo + rng.uniform(0.1, 2.0), 3))
    return mx.sym.clip(_var(), lo, hi, name="clip"), {"data": _x(rng, *_nchw(rng))}


def gen_slice_axis(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=3, hi=8)
    axis = int(rng.randint(-4, 4))
    n = shape[axis]
    begin = int(rng.randint(-n, n - 1)) if draw != 0 else 0
    b = begin % n
    end: int | None = None if draw == 1 else int(rng.randint(b + 1, n + 1))
    if draw == 2 and end is not None:
        end = end - n if end < n else None  # a negative end
    sym = mx.sym.slice_axis(_var(), name="slice_axis", axis=axis, begin=begin, end=end)
    return sym, {"data": _x(rng, *shape)}


def gen_slice(rng: Rng, draw: int) -> Case:
    shape = (2, 5, 7, 6)
    begin, end, step = (
        ((None, 1, 2), (None, 4, -1), None),
        ((0, None, 1, -4), (1, None, 7, None), None),
        ((None, 0, None), (None, 5, None), (None, 2, 3)),
        ((None, 4, 6), (None, 0, 1), (None, -1, -2)),
    )[draw % 4]
    kwargs: dict[str, Any] = {"begin": begin, "end": end}
    if step is not None:
        kwargs["step"] = step
    return mx.sym.slice(_var(), name="slice", **kwargs), {"data": _x(rng, *shape)}


def gen_slicechannel(rng: Rng, draw: int) -> Case:
    """Every output of the split is a head (the reader must name and wire all of them)."""
    parts = int(rng.randint(2, 4))
    axis, squeeze = ((1, False), (2, False), (-1, True), (1, True))[draw % 4]
    shape = list(_nchw(rng, lo=2, hi=5))
    shape[axis] = parts if squeeze else parts * int(rng.randint(1, 3))
    sym = mx.sym.SliceChannel(_var(), name="split", num_outputs=parts, axis=axis,
                              squeeze_axis=squeeze)
    return sym, {"data": _x(rng, *shape)}


def gen_transpose(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=6)
    axes = () if draw == 0 else tuple(int(a) for a in rng.permutation(4))
    return mx.sym.transpose(_var(), name="transpose", axes=axes), {"data": _x(rng, *shape)}


def gen_expand_dims(rng: Rng, draw: int) -> Case:
    shape = _nchw(rng, lo=2, hi=5)[:3]
    axis = (0, 3, -1, -4)[draw % 4]
    return mx.sym.expand_dims(_var(), name="expand", axis=axis), {"data": _x(rng, *shape)}


def gen_l2normalization(rng: Rng, draw: int) -> Case:
    mode = ("instance", "channel", "spatial")[draw % 3]
    eps = float(rng.choice([1e-10, 1e-5, 0.5]))
    sym = mx.sym.L2Normalization(_var(), name="l2norm", mode=mode, eps=eps)
    return sym, {"data": _x(rng, *_nchw(rng, lo=2, hi=6))}


def gen_cast(rng: Rng, draw: int) -> Case:
    dtype = ("float16", "float64", "int32", "float32")[draw % 4]
    return mx.sym.Cast(_var(), name="cast", dtype=dtype), {"data": _x(rng, *_nchw(rng), low=-9,
                                                                       high=9)}


# op -> (generator, number of draws)
GENERATORS: dict[str, tuple[Callable[[Rng, int], Case], int]] = {
    "Convolution": (gen_convolution, 4),
    "Deconvolution": (gen_deconvolution, 3),
    "BatchNorm": (gen_batchnorm, 3),
    "Activation": (gen_activation, len(ACTIVATIONS)),
    "LeakyReLU": (gen_leakyrelu, len(LEAKY)),
    "Pooling": (gen_pooling, 6),
    "UpSampling": (gen_upsampling, 2),
    "Crop": (gen_crop, 3),
    "Concat": (gen_concat, 5),
    "elemwise_add": (_binary(mx.sym.elemwise_add), 2),
    "elemwise_sub": (_binary(mx.sym.elemwise_sub), 1),
    "elemwise_mul": (_binary(mx.sym.elemwise_mul), 2),
    "elemwise_div": (_binary(mx.sym.elemwise_div), 1),
    "add_n": (gen_add_n, 3),
    "broadcast_add": (_broadcast(mx.sym.broadcast_add), 2),
    "broadcast_mul": (_broadcast(mx.sym.broadcast_mul), 2),
    "broadcast_sub": (_broadcast(mx.sym.broadcast_sub), 2),
    "broadcast_div": (_broadcast(mx.sym.broadcast_div, positive_rhs=True), 1),
    **{op: (_scalar(op), 2) for op in SCALAR_OPS},
    "Reshape": (gen_reshape, len(RESHAPES)),
    "Flatten": (gen_flatten, 2),
    "FullyConnected": (gen_fullyconnected, 3),
    "SoftmaxActivation": (gen_softmaxactivation, 3),
    "softmax": (gen_softmax, 4),
    "log_softmax": (gen_log_softmax, 2),
    "SoftmaxOutput": (gen_softmaxoutput, 4),
    "LinearRegressionOutput": (gen_linearregressionoutput, 2),
    "MAERegressionOutput": (gen_regression(mx.sym.MAERegressionOutput), 1),
    "LogisticRegressionOutput": (gen_regression(mx.sym.LogisticRegressionOutput), 2),
    "MakeLoss": (gen_makeloss, 3),
    "make_loss": (_unary(mx.sym.make_loss), 1),
    "Dropout": (gen_dropout, 2),
    "_copy": (_unary(mx.sym.identity), 2),
    "BlockGrad": (_unary(mx.sym.BlockGrad), 2),
    "clip": (gen_clip, 2),
    "slice_axis": (gen_slice_axis, 3),
    "slice": (gen_slice, 4),
    "transpose": (gen_transpose, 3),
    "SliceChannel": (gen_slicechannel, 4),
    "expand_dims": (gen_expand_dims, 4),
    "L2Normalization": (gen_l2normalization, 3),
    "Cast": (gen_cast, 4),
}

#: ops whose one-op case keeps every output as a head (others keep output 0, as models do)
MULTI_OUTPUT = frozenset({"SliceChannel", "split"})

#: alias -> the canonical name MXNet saves it under; the driver makes one case per alias with
#: the canonical op's generator and rewrites the JSON ``op`` field to the alias
ALIASES = {
    "_Plus": "elemwise_add", "_plus": "elemwise_add", "_add": "elemwise_add",
    "_Minus": "elemwise_sub", "_minus": "elemwise_sub", "_sub": "elemwise_sub",
    "_Mul": "elemwise_mul", "_mul": "elemwise_mul",
    "_Div": "elemwise_div", "_div": "elemwise_div",
    "broadcast_plus": "broadcast_add", "broadcast_minus": "broadcast_sub",
    "ElementWiseSum": "add_n",
    "_PlusScalar": "_plus_scalar", "_MinusScalar": "_minus_scalar",
    "_RMinusScalar": "_rminus_scalar", "_MulScalar": "_mul_scalar",
    "_DivScalar": "_div_scalar", "_RDivScalar": "_rdiv_scalar",
    "_PowerScalar": "_power_scalar", "_RPowerScalar": "_rpower_scalar",
    "_MaximumScalar": "_maximum_scalar", "_MinimumScalar": "_minimum_scalar",
    "identity": "_copy", "stop_gradient": "BlockGrad",
    "cast": "Cast", "Softmax": "SoftmaxOutput",
    "reshape": "Reshape", "flatten": "Flatten", "concat": "Concat", "crop": "slice",
    "split": "SliceChannel",
}
