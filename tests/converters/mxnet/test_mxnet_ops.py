"""One-op graphs, written as real checkpoint files, converted and run against numpy references."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mx_numpy_ref as ref
import numpy as np
import pytest
from mx_files import Sym, write_checkpoint

from faceport.backends import make_runner
from faceport.converters.mxnet.family import FAMILY
from faceport.ir import Graph

RNG = np.random.default_rng(1234)


def rand(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def one_op(tmp: Path, op: str, inputs: list[np.ndarray], params: dict[str, np.ndarray] | None
           = None, label: bool = False, **attrs: Any) -> tuple[np.ndarray, Graph]:
    """Build ``op`` over data inputs + weights (roles in MXNet input order), convert, run."""
    s = Sym()
    ids = [s.var("data" if i == 0 else f"data{i}") for i in range(len(inputs))]
    stored: dict[str, Any] = {}
    for role, array in (params or {}).items():
        name = f"node_{role}"
        ids.append(s.var(name))
        kind = "aux" if role.startswith("moving_") else "arg"
        stored[f"{kind}:{name}"] = array
    if label:
        ids.append(s.var("softmax_label"))
    s.op(op, "node", ids, **attrs)
    symbol = write_checkpoint(tmp, s, stored)
    graph = FAMILY.convert(symbol)
    feed = {spec.name: x for spec, x in zip(graph.inputs, inputs, strict=True)}
    with make_runner("torch-cpu", graph) as runner:
        out = runner.infer(feed)
    return out["node"], graph


def close(got: np.ndarray, want: np.ndarray, tol: float = 1e-4) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    ("c", "f", "k", "stride", "pad", "dilate", "group", "bias"),
    [
        (3, 8, 3, 2, 1, 1, 1, False),
        (4, 6, 3, 1, 0, 2, 2, True),
        (8, 8, 3, 1, 1, 1, 8, False),  # depthwise
        (5, 7, (1, 3), 1, (0, 1), 1, 1, True),
    ],
)
def test_convolution(tmp_path: Path, c: int, f: int, k: Any, stride: int, pad: Any,
                     dilate: int, group: int, bias: bool) -> None:
    kh, kw = (k, k) if isinstance(k, int) else k
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    x, w = rand(2, c, 11, 13), rand(f, c // group, kh, kw)
    params = {"weight": w} | ({"bias": rand(f)} if bias else {})
    got, _ = one_op(tmp_path, "Convolution", [x], params, kernel=(kh, kw), num_filter=f,
                    stride=(stride, stride), pad=(ph, pw), dilate=(dilate, dilate),
                    num_group=group, no_bias=not bias)
    want = ref.conv2d(x.astype(float), w, params.get("bias"), (stride, stride), (ph, pw),
                      (dilate, dilate), group)
    close(got, want)


@pytest.mark.parametrize(("stride", "pad", "adj", "group"), [(2, 1, 1, 1), (2, 0, 0, 2),
                                                              (3, 1, 2, 1)])
def test_deconvolution(tmp_path: Path, stride: int, pad: int, adj: int, group: int) -> None:
    x, w = rand(1, 4, 5, 6), rand(4, 6 // group, 4, 4)
    got, _ = one_op(tmp_path, "Deconvolution", [x], {"weight": w}, kernel=(4, 4), num_filter=6,
                    stride=(stride, stride), pad=(pad, pad), adj=(adj, adj), num_group=group)
    close(got, ref.deconv2d(x.astype(float), w, (stride, stride), (pad, pad), (adj, adj), group))


def test_deconvolution_target_shape(tmp_path: Path) -> None:
    x, w = rand(1, 2, 5, 5), rand(2, 3, 4, 4)
    got, _ = one_op(tmp_path, "Deconvolution", [x], {"weight": w}, kernel=(4, 4), num_filter=3,
                    stride=(2, 2), target_shape=(9, 10))
    # MXNet InferPad: total = s(H-1) + k - target; pad = (total + 1) // 2; adj = total % 2
    full = ref.deconv2d(x.astype(float), w, (2, 2), (0, 0), (0, 0))  # 12 x 12
    close(got, full[:, :, 2:11, 1:11])


@pytest.mark.parametrize("fix_gamma", [True, False, None])
def test_batch_norm(tmp_path: Path, fix_gamma: bool | None) -> None:
    x = rand(2, 5, 4, 3)
    p = {"gamma": rand(5) + 2, "beta": rand(5), "moving_mean": rand(5),
         "moving_var": np.abs(rand(5)) + 0.1}
    attrs: dict[str, Any] = {"eps": 2e-5} if fix_gamma is not None else {}
    if fix_gamma is not None:
        attrs["fix_gamma"] = fix_gamma
    got, _ = one_op(tmp_path, "BatchNorm", [x], p, **attrs)
    gamma = p["gamma"] if fix_gamma is False else np.ones(5)  # default fix_gamma is True
    eps = 2e-5 if fix_gamma is not None else 1e-3  # default eps is 1e-3
    close(got, ref.batch_norm(x.astype(float), gamma, p["beta"], p["moving_mean"],
                              p["moving_var"], eps))


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_activation(tmp_path: Path, act: str) -> None:
    x = rand(2, 3, 4, 5, scale=3)
    got, _ = one_op(tmp_path, "Activation", [x], act_type=act)
    close(got, ACTIVATIONS[act](x.astype(float)))


_erf = np.vectorize(math.erf)
LEAKY = {
    "leaky": ({"slope": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x)),
    "elu": ({"slope": 0.7}, lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    "selu": ({}, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (
        np.exp(x) - 1))),
    "gelu": ({}, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "rrelu": ({"lower_bound": 0.1, "upper_bound": 0.3},
              lambda x: np.where(x > 0, x, 0.2 * x)),
}


@pytest.mark.parametrize("act", sorted(LEAKY))
def test_leaky_relu(tmp_path: Path, act: str) -> None:
    x = rand(2, 3, 4, 5, scale=2)
    attrs, fn = LEAKY[act]
    got, _ = one_op(tmp_path, "LeakyReLU", [x], act_type=act, **attrs)
    close(got, fn(x.astype(float)))


def test_prelu(tmp_path: Path) -> None:
    x, gamma = rand(2, 3, 4, 5), np.array([0.1, 0.2, 0.3], np.float32)
    got, graph = one_op(tmp_path, "LeakyReLU", [x], {"gamma": gamma}, act_type="prelu")
    close(got, np.where(x > 0, x, gamma[None, :, None, None] * x))
    assert graph.nodes[0].params == {"gamma": "node_gamma"}


@pytest.mark.parametrize(
    ("kind", "k", "s", "p", "conv", "incl"),
    [("max", 3, 2, 1, "valid", True), ("max", 3, 2, 0, "full", True),
     ("avg", 3, 2, 1, "full", True), ("avg", 3, 2, 1, "valid", False),
     ("avg", 2, 2, 0, "full", True), ("sum", 3, 1, 1, "valid", True)],
)
def test_pooling(tmp_path: Path, kind: str, k: int, s: int, p: int, conv: str,
                 incl: bool) -> None:
    x = rand(1, 2, 10, 9)
    got, _ = one_op(tmp_path, "Pooling", [x], pool_type=kind, kernel=(k, k), stride=(s, s),
                    pad=(p, p), pooling_convention=conv, count_include_pad=incl)
    close(got, ref.pool2d(x.astype(float), kind, (k, k), (s, s), (p, p), conv == "full", incl))


@pytest.mark.parametrize(
    ("kind", "kernel", "stride", "pad", "want"),
    [  # measured with MXNet 1.9.1 on x = [[[[1, 2, ..., 10]]]]: 'full' keeps windows that
        # start in (or past) the padding; an empty window is 0 (avg, sum) or -FLT_MAX (max)
        ("avg", 1, 2, 0, [1, 3, 5, 7, 9, 0]),
        ("max", 1, 2, 0, [1, 3, 5, 7, 9, -3.4028235e38]),
        ("sum", 1, 2, 0, [1, 3, 5, 7, 9, 0]),
        ("avg", 3, 4, 1, [1, 5, 9, 0]),
        ("max", 3, 4, 1, [2, 6, 10, -3.4028235e38]),
    ],
)
def test_pooling_full_convention_edge_windows(tmp_path: Path, kind: str, kernel: int,
                                              stride: int, pad: int, want: list[float]) -> None:
    x = np.arange(1, 11, dtype=np.float32).reshape(1, 1, 1, 10)
    got, _ = one_op(tmp_path, "Pooling", [x], pool_type=kind, kernel=(1, kernel),
                    stride=(1, stride), pad=(0, pad), pooling_convention="full")
    np.testing.assert_allclose(got.ravel(), np.array(want, np.float32), rtol=1e-6)


@pytest.mark.parametrize(("kind", "fn"), [("max", np.max), ("avg", np.mean), ("sum", np.sum)])
def test_global_pooling(tmp_path: Path, kind: str, fn: Any) -> None:
    x = rand(2, 3, 7, 5)
    got, _ = one_op(tmp_path, "Pooling", [x], pool_type=kind, kernel=(3, 3), global_pool=True)
    close(got, fn(x.astype(float), axis=(2, 3), keepdims=True))


def test_upsampling_nearest_and_crop_like_retinaface(tmp_path: Path) -> None:
    x = rand(1, 2, 4, 5)
    got, _ = one_op(tmp_path, "UpSampling", [x], sample_type="nearest", scale=2, num_args=1)
    close(got, x.repeat(2, axis=2).repeat(2, axis=3))
    big, like = rand(1, 2, 8, 10), rand(1, 3, 7, 9)
    got, _ = one_op(tmp_path, "Crop", [big, like], num_args=2)
    close(got, big[:, :, :7, :9])
    got, _ = one_op(tmp_path, "Crop", [big, like], num_args=2, offset=(1, 1))
    close(got, big[:, :, 1:8, 1:10])
    got, _ = one_op(tmp_path, "Crop", [big], num_args=1, h_w=(4, 4), center_crop=True)
    close(got, big[:, :, 2:6, 3:7])


def test_upsampling_bilinear_is_a_deconvolution(tmp_path: Path) -> None:
    x, w = rand(1, 3, 4, 5), rand(3, 1, 4, 4)
    got, _ = one_op(tmp_path, "UpSampling", [x], {"weight": w}, sample_type="bilinear",
                    scale=2, num_filter=3, num_args=2)
    want = np.concatenate([ref.deconv2d(x[:, c : c + 1].astype(float), w[c : c + 1], (2, 2),
                                        (1, 1), (0, 0)) for c in range(3)], axis=1)
    close(got, want)


@pytest.mark.parametrize(
    ("shape", "codes", "reverse", "want"),
    [((2, 3, 4), (4, 0, 2), False, (4, 3, 2)), ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)),
     ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)), ((2, 3, 4), (-2, 1, 1), False, (2, 3, 4, 1, 1)),
     ((2, 3, 4, 5), (-3, -3), False, (6, 20)), ((2, 3, 4), (0, -3), False, (2, 12)),
     ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
     ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)),
     ((10, 5, 4), (-1, 0), False, (40, 5)), ((10, 5, 4), (-1, 0), True, (50, 4)),
     ((1, 4, 6, 8), (0, 2, -1, 0), False, (1, 2, 12, 8))],
)
def test_reshape_codes(tmp_path: Path, shape: tuple[int, ...], codes: tuple[int, ...],
                       reverse: bool, want: tuple[int, ...]) -> None:
    x = rand(*shape)
    got, _ = one_op(tmp_path, "Reshape", [x], shape=codes, reverse=reverse)
    close(got, x.reshape(want))


def test_fully_connected_and_flatten(tmp_path: Path) -> None:
    x, w, b = rand(2, 3, 2, 2), rand(5, 12), rand(5)
    got, _ = one_op(tmp_path, "FullyConnected", [x], {"weight": w, "bias": b}, num_hidden=5)
    close(got, x.reshape(2, -1) @ w.T + b)
    w2 = rand(5, 2)
    got, _ = one_op(tmp_path, "FullyConnected", [x], {"weight": w2}, num_hidden=5, no_bias=True,
                    flatten=False)
    close(got, x @ w2.T)
    got, _ = one_op(tmp_path, "Flatten", [x])
    close(got, x.reshape(2, -1))


def test_softmaxes(tmp_path: Path) -> None:
    x = rand(2, 4, 3, 5, scale=3)
    got, _ = one_op(tmp_path, "SoftmaxActivation", [x], mode="channel")
    close(got, ref.softmax(x.astype(float), 1))
    got, _ = one_op(tmp_path, "SoftmaxActivation", [x])  # instance: mshadow FlatTo2D, last axis
    close(got, ref.softmax(x.astype(float), -1))
    got, _ = one_op(tmp_path, "softmax", [x], axis=2)
    close(got, ref.softmax(x.astype(float), 2))
    got, graph = one_op(tmp_path, "SoftmaxOutput", [x], label=True, multi_output=True)
    close(got, ref.softmax(x.astype(float), 1))
    assert [s.name for s in graph.inputs] == ["data"]  # the label is not a graph input
    got, _ = one_op(tmp_path, "SoftmaxOutput", [x], label=True)  # default: last axis
    close(got, ref.softmax(x.astype(float), -1))
    got, graph = one_op(tmp_path, "LinearRegressionOutput", [x], label=True)
    close(got, x)


def test_elementwise_and_scalar(tmp_path: Path) -> None:
    a, b, row = rand(2, 3, 4), rand(2, 3, 4), rand(1, 3, 1)
    for op, fn in [("elemwise_add", np.add), ("_Plus", np.add), ("_plus", np.add),
                   ("elemwise_mul", np.multiply)]:
        close(one_op(tmp_path, op, [a, b])[0], fn(a, b))
    for op, fn in [("broadcast_add", np.add), ("broadcast_mul", np.multiply),
                   ("broadcast_sub", np.subtract), ("broadcast_div", np.divide)]:
        close(one_op(tmp_path, op, [a, row])[0], fn(a, row))
    for op, fn in [("_plus_scalar", lambda x: x + 1.5), ("_minus_scalar", lambda x: x - 1.5),
                   ("_mul_scalar", lambda x: x * 1.5), ("_div_scalar", lambda x: x / 1.5),
                   ("_rminus_scalar", lambda x: 1.5 - x), ("_rdiv_scalar", lambda x: 1.5 / x)]:
        close(one_op(tmp_path, op, [a], scalar=1.5)[0], fn(a), tol=1e-3)
    close(one_op(tmp_path, "clip", [a], a_min=-0.5, a_max=0.25)[0], np.clip(a, -0.5, 0.25))


def test_slices_and_axes(tmp_path: Path) -> None:
    x = rand(2, 5, 6)
    close(one_op(tmp_path, "slice_axis", [x], axis=2, begin=1, end=-1)[0], x[:, :, 1:-1])
    close(one_op(tmp_path, "slice_axis", [x], axis=1, begin=2, end="None")[0], x[:, 2:])
    close(one_op(tmp_path, "slice", [x], begin=(None, 1), end=(None, 4))[0], x[:, 1:4])
    close(one_op(tmp_path, "slice", [x], begin=(0, None, 5), end=(1, None, 0),
                 step=(1, 1, -2))[0], x[0:1, :, 5:0:-2])
    close(one_op(tmp_path, "transpose", [x], axes=(2, 0, 1))[0], x.transpose(2, 0, 1))
    close(one_op(tmp_path, "transpose", [x])[0], x.transpose())
    close(one_op(tmp_path, "expand_dims", [x], axis=-1)[0], x[..., None])
    close(one_op(tmp_path, "Concat", [x, x * 2], dim=2, num_args=2)[0],
          np.concatenate([x, x * 2], 2))


def test_identities_cast_and_l2norm(tmp_path: Path) -> None:
    x = rand(2, 3, 4, 5)
    for op in ("Dropout", "identity", "_copy", "BlockGrad"):
        close(one_op(tmp_path, op, [x])[0], x)
    close(one_op(tmp_path, "Cast", [x * 10], dtype="int32")[0], np.trunc(x * 10))
    for mode, axes in [("instance", (1, 2, 3)), ("channel", (1,)), ("spatial", (2, 3))]:
        want = x / np.sqrt((x.astype(float) ** 2).sum(axis=axes, keepdims=True) + 1e-6)
        close(one_op(tmp_path, "L2Normalization", [x], mode=mode, eps=1e-6)[0], want)
