"""Injected conversion faults are caught and localised to the right layer.

Each test breaks faceport the way a real conversion bug would (a converter monkeypatched in
the registry, or the preprocessing), runs the parity matrix with localisation against the
source framework, and asserts the named first diverging layer or the failing detection
check. Without the fault the same run passes (test_matrix.py), so these cannot pass by
accident.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport import registry
from faceport.ir import Node
from faceport.verify.matrix import VerifyOptions, run_matrix
from faceport.verify.references.mxnet_venv import why_mxnet_unavailable
from tests.verify.matrix_cases import MNET25, converted, photo, r50_symbol, s3fd_source

LOCALISE = VerifyOptions(
    backends=(), localise=True, localise_against=("reference",), detections=False
)


def patch_converter(
    monkeypatch: pytest.MonkeyPatch,
    framework: str,
    op: str,
    change: Callable[[Node], dict[str, Any] | None],
) -> None:
    """Make ``(framework, op)``'s converter see node attrs ``change(node)`` (None: as is)."""
    registry.converter_for(framework, Node(op=op, name="probe", inputs=(), outputs=()))
    original = registry._TABLE[(framework, op)]

    def faulty(node: Node, ctx: Any) -> Any:
        attrs = change(node)
        if attrs is not None:
            node = dataclasses.replace(node, attrs={**node.attrs, **attrs})
        return original(node, ctx)

    monkeypatch.setitem(registry._TABLE, (framework, op), faulty)


def localised(graph: Any, source: Path, image: np.ndarray) -> dict[str, Any]:
    result = run_matrix(graph, source, [("photo", image)], LOCALISE)
    (loc,) = result.report["localisation"]
    assert "skipped" not in loc and "error" not in loc, loc
    assert not result.passed and result.verdict == "fail" and result.exit_code == 1
    return loc


def first_node_of(graph: Any, op: str, predicate: Callable[[Node], bool] = lambda n: True) -> str:
    return next(n.outputs[0] for n in graph.nodes if n.op == op and predicate(n))


@pytest.fixture(scope="module")
def mxnet_ready() -> None:
    why = why_mxnet_unavailable()
    if why is not None:
        pytest.skip(why)


@pytest.mark.reference
def test_wrong_batchnorm_eps_is_localised(
    monkeypatch: pytest.MonkeyPatch, mxnet_ready: None
) -> None:
    """The converter uses eps 1e-1 instead of the node's (mnet.25: 1e-5 ... 2e-5)."""
    graph = converted(str(MNET25))
    patch_converter(monkeypatch, "mxnet", "BatchNorm", lambda node: {"eps": 0.1})
    loc = localised(graph, MNET25, photo(scale=0.5))
    first = next(x for x in loc["layers"] if not x["passed"])
    assert first["name"] == loc["first_divergence"] and first["op"] == "BatchNorm"
    # every layer before it agrees, the convolution feeding it included
    before = loc["layers"][: loc["layers"].index(first)]
    assert before and all(x["passed"] for x in before)
    feeding = next(n for n in graph.nodes if n.outputs[0] == first["name"]).inputs[0]
    assert any(x["name"] == feeding and x["op"] == "Convolution" for x in before)


@pytest.mark.reference
def test_dropped_fix_gamma_is_localised(monkeypatch: pytest.MonkeyPatch, mxnet_ready: None) -> None:
    """fix_gamma=True ignored: the stored (random) gamma of R50's bn_data is applied."""
    symbol = r50_symbol()
    graph = converted(str(symbol))
    patch_converter(monkeypatch, "mxnet", "BatchNorm", lambda node: {"fix_gamma": False})
    fixed = first_node_of(graph, "BatchNorm", lambda n: n.attrs.get("fix_gamma") is True)
    loc = localised(graph, symbol, photo(scale=0.4))
    assert loc["first_divergence"] == fixed == "bn_data"


@pytest.mark.reference
def test_pooling_padding_off_by_one_is_localised(
    monkeypatch: pytest.MonkeyPatch, mxnet_ready: None
) -> None:
    """Max pooling padded by pad+1: the pool's output shape changes, nothing before it."""
    symbol = r50_symbol()
    graph = converted(str(symbol))

    def wider(node: Node) -> dict[str, Any] | None:
        pad = node.attrs.get("pad")
        return None if not pad else {"pad": type(pad)(int(p) + 1 for p in pad)}

    patch_converter(monkeypatch, "mxnet", "Pooling", wider)
    loc = localised(graph, symbol, photo(scale=0.4))
    pool = first_node_of(graph, "Pooling")
    assert loc["first_divergence"] == pool
    layer = next(x for x in loc["layers"] if x["name"] == pool)
    assert layer["shape_mismatch"]


def test_wrong_l2norm_scale_is_localised(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3FD: conv4_3_norm's learned scale replaced by its initial value 8 (a lost weight)."""
    source = s3fd_source()
    graph = converted(str(source))
    graph = dataclasses.replace(
        graph,
        params={
            **graph.params,
            "conv4_3_norm.weight": np.full_like(graph.params["conv4_3_norm.weight"], 8.0),
        },
    )
    loc = localised(graph, source, photo(scale=0.5))
    assert loc["first_divergence"] == "conv4_3_norm"
    names = [x["name"] for x in loc["layers"]]
    assert all(x["passed"] for x in loc["layers"][: names.index("conv4_3_norm")])


def test_swapped_colour_order_fails_the_detection_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3FD preprocessing feeding RGB instead of BGR: the raw outputs of faceport and the
    reference still agree (same feed), the detections against SFD_pytorch's own pipeline do
    not."""
    import faceport.detect.s3fd as s3fd

    original = s3fd.preprocess

    def rgb_instead_of_bgr(image: np.ndarray, mean: Any = (104.0, 117.0, 123.0)) -> np.ndarray:
        return original(np.ascontiguousarray(image[:, :, ::-1]), mean)

    source = s3fd_source()
    graph = converted(str(source))
    image = photo()
    clean = run_matrix(graph, source, [("photo", image)], VerifyOptions(backends=()))
    assert clean.passed, clean
    assert clean.report["cases"][0]["detections"]["compare"]["n_ref"] > 0
    monkeypatch.setattr(s3fd, "preprocess", rgb_instead_of_bgr)
    result = run_matrix(graph, source, [("photo", image)], VerifyOptions(backends=()))
    assert not result.passed and result.exit_code == 1
    assert result.report["summary"]["failures"] == ["photo: detections differ from the reference"]
    assert not result.report["cases"][0]["detections"]["compare"]["passed"]
