"""Each S3FD converter on a one-node graph against torch.nn.functional written out here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceport.ir import Graph, Node, TensorSpec
from faceport.lower import lower
from faceport.registry import supported_ops

RNG = np.random.default_rng(7)


def _run(node: Node, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    graph = Graph("s3fd", (TensorSpec("x", (None, None, None, None)),), (node,), node.outputs,
                  params).validate()
    with torch.no_grad():
        return lower(graph)(torch.from_numpy(x)).numpy()


def _conv_node(cin: int, cout: int, k: int, s: int, p: int) -> tuple[Node, dict[str, Any]]:
    params = {"c.weight": RNG.standard_normal((cout, cin, k, k)).astype(np.float32),
              "c.bias": RNG.standard_normal(cout).astype(np.float32)}
    node = Node("conv", "c", ("x",), ("y",), {"kernel": [k, k], "stride": [s, s], "pad": [p, p],
                "dilation": [1, 1], "in_channels": cin, "out_channels": cout},
                {"weight": "c.weight", "bias": "c.bias"})
    return node, params


@pytest.mark.parametrize(("k", "s", "p", "hw"), [(3, 1, 1, (9, 7)), (3, 1, 3, (5, 4)),
                                                  (1, 1, 0, (6, 6)), (3, 2, 1, (7, 10))])
def test_conv(k: int, s: int, p: int, hw: tuple[int, int]) -> None:
    node, params = _conv_node(5, 6, k, s, p)
    x = RNG.standard_normal((1, 5, *hw)).astype(np.float32)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(params["c.weight"]),
                    torch.from_numpy(params["c.bias"]), stride=s, padding=p).numpy()
    got = _run(node, params, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_relu() -> None:
    x = RNG.standard_normal((1, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(_run(Node("relu", "r", ("x",), ("y",)), {}, x), np.maximum(x, 0))


@pytest.mark.parametrize("hw", [(8, 8), (7, 9), (3, 5)])
def test_maxpool_floor(hw: tuple[int, int]) -> None:
    x = RNG.standard_normal((1, 2, *hw)).astype(np.float32)
    node = Node("maxpool", "p", ("x",), ("y",),
                {"kernel": [2, 2], "stride": [2, 2], "pad": [0, 0], "ceil_mode": False})
    got = _run(node, {}, x)
    h, w = hw[0] // 2, hw[1] // 2  # floor: the odd last row/column is dropped
    want = x[:, :, : 2 * h, : 2 * w].reshape(1, 2, h, 2, w, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(got, want)


def test_l2norm_eps_after_sqrt() -> None:
    x = np.abs(RNG.standard_normal((1, 4, 3, 3))).astype(np.float32)
    x[:, :, 0, 0] = 0.0  # all-zero pixel: eps keeps it finite (0 / 1e-10 = 0)
    weight = np.array([10.0, 8.0, 5.0, 1.0], np.float32)
    node = Node("l2norm", "n", ("x",), ("y",), {"eps": 1e-10}, {"weight": "n.weight"})
    got = _run(node, {"n.weight": weight}, x)
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=1, keepdims=True)) + 1e-10
    np.testing.assert_allclose(got, x / norm * weight.reshape(1, -1, 1, 1), rtol=1e-6, atol=1e-6)
    assert np.all(got[:, :, 0, 0] == 0.0)


def test_maxout_background() -> None:
    x = RNG.standard_normal((2, 4, 3, 5)).astype(np.float32)
    got = _run(Node("maxout_conf", "m", ("x",), ("y",), {"background": 3}), {}, x)
    np.testing.assert_array_equal(got[:, 0], x[:, :3].max(axis=1))
    np.testing.assert_array_equal(got[:, 1], x[:, 3])


def test_graph_uses_only_registered_ops() -> None:
    from tests.reference import s3fd_session

    graph = s3fd_session.converted(s3fd_session.CANONICAL)
    assert {n.op for n in graph.nodes} == set(supported_ops("s3fd"))
    names = {n.name for n in graph.nodes}
    assert {"conv4_3", "fc6", "conv3_3_norm", "conv3_3_norm_mbox_conf", "conv7_2_mbox_loc",
            "pool5"} <= names
    assert graph.node("fc6").attrs["pad"] == [3, 3]
    assert graph.node("conv6_2").attrs["stride"] == [2, 2]
