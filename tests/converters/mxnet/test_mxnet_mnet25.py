"""The real insightface RetinaFace mnet.25 checkpoint: conversion, shapes, numpy spot checks."""

from __future__ import annotations

import importlib.util
from typing import Any

import mx_numpy_ref as ref
import numpy as np
import pytest

from faceport.converters import convert, sniff
from faceport.converters.mxnet.family import FAMILY
from faceport.ir import Graph
from faceport.kinds import detector as kind_detector
from faceport.lower import lower
from tests.conftest import shared_fixture

SYMBOL = "retinaface_mxnet/mnet.25/mnet.25-symbol.json"
SHA = {
    "mnet.25-symbol.json": "208cbef37b478ac9c86e6330ab5ace788504aee3691806385691de52cc585eb2",
    "mnet.25-0000.params": "051313a2e7e62e981aafcf0dd5cb16505eca4295c4d2f6f36749a173eda8413c",
}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return convert(shared_fixture(SYMBOL))


@pytest.fixture(scope="module")
def module(graph: Graph) -> Any:
    return lower(graph)


def test_meta(graph: Graph) -> None:
    assert sniff(shared_fixture(SYMBOL)) is FAMILY
    assert {s["file"]: s["sha256"] for s in graph.meta["sources"]} == SHA
    info = graph.info
    assert info is not None and info.kind == "retinaface"
    assert info.head is not None and info.head.options["strides"] == [32, 16, 8]
    assert info.preprocess is not None and info.preprocess.color == "RGB"
    assert info.preprocess.mean == (0.0, 0.0, 0.0) and info.preprocess.std == (1.0, 1.0, 1.0)
    assert graph.inputs[0].name == "data" and graph.inputs[0].shape == (None, 3, None, None)
    assert graph.meta["unused_params"] == []
    assert len(graph.params) == 273


@pytest.mark.parametrize(("h", "w"), [(480, 640), (97, 131)])
def test_output_shapes_any_size(module: Any, graph: Graph, h: int, w: int) -> None:
    import torch

    with torch.inference_mode():
        outs = module(torch.rand(1, 3, h, w) * 255)
    got = dict(zip(graph.outputs, (tuple(o.shape) for o in outs), strict=True))
    for stride in (32, 16, 8):
        fh, fw = h, w
        for _ in range({32: 5, 16: 4, 8: 3}[stride]):  # 3x3 stride-2 pad-1 convs: ceil halving
            fh, fw = (fh + 1) // 2, (fw + 1) // 2
        assert got[f"face_rpn_cls_prob_reshape_stride{stride}"] == (1, 4, fh, fw)
        assert got[f"face_rpn_bbox_pred_stride{stride}"] == (1, 8, fh, fw)
        assert got[f"face_rpn_landmark_pred_stride{stride}"] == (1, 20, fh, fw)
    # SoftmaxActivation(mode=channel) over the (bg, fg) pair of each anchor
    probs = outs[0].reshape(1, 2, 2, -1).sum(1)
    assert torch.allclose(probs, torch.ones_like(probs), atol=1e-5)


def test_first_layers_match_numpy(graph: Graph) -> None:
    """conv0 (stride 2) -> bn0 -> relu0 -> depthwise conv1 -> bn -> relu, tapped, vs numpy."""
    import torch

    names = ["mobilenet0_conv0_fwd", "mobilenet0_relu0_fwd", "mobilenet0_conv1_fwd",
             "mobilenet0_relu1_fwd"]
    x = (np.random.default_rng(5).random((1, 3, 37, 45)) * 255).astype(np.float32)
    with torch.inference_mode():
        taps = [t.numpy() for t in lower(graph, names)(torch.from_numpy(x))]
    p = graph.params
    nodes = {n.name: n for n in graph.nodes}

    def conv(name: str, inp: np.ndarray) -> np.ndarray:
        n = nodes[name]
        group = n.attrs.get("num_group") or 1
        return ref.conv2d(inp, p[n.params["weight"]].astype(float), None,
                          tuple(n.attrs["stride"]), tuple(n.attrs["pad"]), (1, 1), group)

    def bn_relu(name: str, inp: np.ndarray) -> np.ndarray:
        n = nodes[name]
        q = {r: p[k].astype(float) for r, k in n.params.items()}
        out = ref.batch_norm(inp, q["gamma"], q["beta"], q["moving_mean"], q["moving_var"],
                             n.attrs["eps"])
        return np.maximum(out, 0)

    c0 = conv("mobilenet0_conv0_fwd", x.astype(float))
    r0 = bn_relu("mobilenet0_batchnorm0_fwd", c0)
    c1 = conv("mobilenet0_conv1_fwd", r0)
    r1 = bn_relu("mobilenet0_batchnorm1_fwd", c1)
    assert nodes["mobilenet0_conv1_fwd"].attrs["num_group"] == 8  # depthwise
    for got, want in zip(taps, (c0, r0, c1, r1), strict=True):
        assert got.shape == want.shape
        scale = float(np.abs(want).max())
        assert float(np.abs(got - want).max()) <= 1e-5 * scale + 1e-5


def test_detector_hook(graph: Graph) -> None:
    if importlib.util.find_spec("faceport.detect.retinaface") is None:
        pytest.skip("faceport.detect.retinaface (another helper's module) is not there yet")
    detector = kind_detector(graph)
    assert detector is not None and type(detector).__name__ == "RetinaFaceDetector"
