"""R50-style RetinaFace (random weights, real structure) vs MXNet, and per-node localisation.

The checkpoint comes from ``tools/mxnet_ref/make_fixtures.py`` (``r50_symbol.py``): bn_data
with fix_gamma=True, ResNet stem and bottleneck units, FPN with nearest UpSampling + Crop, SSH
context modules and the 9 insightface-named heads, at two input sizes that are not multiples
of 32 (so the Crops cut).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from mxnet_ref_fixtures import cases, load_npz, path

from faceport import registry
from faceport.backends import make_runner
from faceport.ir import Graph
from faceport.tolerance import Tolerance
from faceport.verify.compare import OutputCompareResult, compare_arrays
from faceport.verify.references.mxnet_venv import MXNetRunner

pytestmark = pytest.mark.reference
log = logging.getLogger(__name__)

#: max-abs error <= 1e-4 x the output's max magnitude (plus 1e-4 relative elementwise)
TOL = Tolerance(1e-4, 1e-4, relative_to_scale=True)


@pytest.fixture(scope="module")
def r50() -> dict[str, Any]:
    return next(c for c in cases("r50") if c["name"] == "retinaface_r50")


@pytest.fixture(scope="module")
def graph(r50: dict[str, Any]) -> Graph:
    from faceport.converters.mxnet.family import FAMILY

    return FAMILY.convert(path(r50, "symbol"))


def test_structure_is_the_real_one(graph: Graph) -> None:
    """The fixture has what makes R50 RetinaFace hard: fix_gamma bn_data, Crop, UpSampling,
    SSH concats, SoftmaxActivation over a reshape; and the nine named heads."""
    ops = {n.op for n in graph.nodes}
    assert {"BatchNorm", "Convolution", "Pooling", "UpSampling", "Crop", "Concat",
            "SoftmaxActivation", "Reshape", "elemwise_add", "Activation"} <= ops
    assert graph.node("bn_data").attrs.get("fix_gamma") in (True, "True")
    assert len(graph.outputs) == 9
    assert graph.info is not None and graph.info.kind == "retinaface"


@pytest.mark.parametrize("run_index", [0, 1])
def test_outputs_match_mxnet(r50: dict[str, Any], graph: Graph, run_index: int) -> None:
    run = r50["runs"][run_index]
    feed = load_npz(r50, run["inputs"])
    expected = load_npz(r50, run["expected"])
    assert list(graph.outputs) == run["outputs"]
    with make_runner("torch-cpu", graph) as runner:
        got = runner.infer(feed)
    results = [compare_arrays(name, expected[name], got[name], TOL) for name in run["outputs"]]
    for result in results:
        log.info("R50 input %s: %s", feed["data"].shape, result)
    assert all(results), "\n".join(str(r) for r in results)


def _per_node(graph: Graph, feed: dict[str, Any], mx_names: list[str],
              ir_names: list[str], r50: dict[str, Any]) -> list[OutputCompareResult]:
    """Every node's output, faceport vs MXNet internals, in topological order."""
    with make_runner("torch-cpu", graph, ir_names) as runner:
        mine = runner.infer(feed)
    with MXNetRunner(path(r50, "symbol"), path(r50, "params"), outputs=mx_names) as runner:
        ref = runner.infer(feed)
    return [compare_arrays(ir, ref[mx], mine[ir], TOL) for mx, ir in zip(mx_names, ir_names)]


def _taps(graph: Graph) -> tuple[list[str], list[str]]:
    nodes = [n for n in graph.nodes if len(n.outputs) == 1]
    return [n.name for n in nodes], [n.outputs[0] for n in nodes]


def test_per_node_localisation(r50: dict[str, Any], graph: Graph,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With the correct converters no node diverges; with a BatchNorm converter that ignores
    fix_gamma the first diverging node (topological order) is bn_data, the only
    fix_gamma=True BatchNorm, and every node before it still agrees."""
    feed = load_npz(r50, r50["runs"][1]["inputs"])
    mx_names, ir_names = _taps(graph)
    good = _per_node(graph, feed, mx_names, ir_names, r50)
    bad_nodes = [r.name for r in good if not r]
    assert not bad_nodes, f"correct converters diverge at {bad_nodes[:5]}"
    log.info("per-node: %d nodes agree, worst %s", len(good),
             max(good, key=lambda r: r.rel_to_scale))

    original = registry.converter_for("mxnet", graph.node("bn_data"))

    def wrong_batch_norm(node: Any, ctx: Any) -> Any:
        return original(dataclasses.replace(node, attrs={**node.attrs, "fix_gamma": False}), ctx)

    monkeypatch.setitem(registry._TABLE, ("mxnet", "BatchNorm"), wrong_batch_norm)
    broken = _per_node(graph, feed, mx_names, ir_names, r50)
    first = next((r for r in broken if not r), None)
    assert first is not None, "the broken BatchNorm converter went unnoticed"
    assert first.name == "bn_data", f"first divergence at {first.name}, not bn_data:\n{first}"
    log.info("wrong fix_gamma: first divergence %s", first)
