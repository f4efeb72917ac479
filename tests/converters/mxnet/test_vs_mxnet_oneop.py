"""Every MXNet op faceport converts, on one-op graphs with random attributes, vs real MXNet.

The cases (checkpoint + input + MXNet 1.9.1's output, several seeded attribute draws per op)
come from ``tools/mxnet_ref/make_fixtures.py``; one test per op of the converter table, so a
newly registered op without a case fails here until the generator covers it.
"""

from __future__ import annotations

import logging

import pytest
from mxnet_ref_fixtures import cases, fixtures, load_npz, path

from faceport.backends import make_runner
from faceport.registry import table
from faceport.tolerance import tolerance_for
from faceport.verify.compare import compare_arrays

pytestmark = pytest.mark.reference
log = logging.getLogger(__name__)

# ops in faceport's table that MXNet 1.9.1 itself no longer registers: no reference possible
NOT_IN_MXNET_191 = {"_slice": "pre-1.0 name of slice; MXNet 1.9.1 cannot load it"}


def _convert(case: dict) -> object:
    from faceport.converters.mxnet.family import FAMILY

    return FAMILY.convert(path(case, "symbol"))


def check_case(case: dict) -> list[str]:
    """Convert, run with torch, compare every run's outputs with MXNet's: the failure lines."""
    graph = _convert(case)
    failures = []
    for run in case["runs"]:
        feed = load_npz(case, run["inputs"])
        expected = load_npz(case, run["expected"])
        # positional: MXNet names a few outputs by kind (make_loss -> "<node>_loss"), the IR
        # names every output 0 after its node
        assert len(graph.outputs) == len(run["outputs"]), (graph.outputs, run["outputs"])
        with make_runner("torch-cpu", graph) as runner:
            got = runner.infer({spec.name: feed[spec.name] for spec in graph.inputs})
        for name, mine in zip(run["outputs"], graph.outputs):
            ref = expected[name]
            result = compare_arrays(name, ref, got[mine], tolerance_for("float32", "cpu"))
            log.info("%s %s: %s", case["name"], case.get("attrs"), result)
            if not result:
                failures.append(f"{case['name']} {case.get('attrs')}:\n  {result}")
    return failures


@pytest.mark.parametrize("op", sorted(table("mxnet")))
def test_op_matches_mxnet(op: str) -> None:
    manifest = fixtures()
    if op in NOT_IN_MXNET_191:
        pytest.skip(f"{op}: {NOT_IN_MXNET_191[op]}")
    mine = [c for c in cases("oneop") if c["op"] == op]
    if not mine:
        assert op not in manifest["mxnet_ops"], (
            f"no one-op case for {op}: add a generator to tools/mxnet_ref/oneop_cases.py"
        )
        pytest.skip(f"MXNet {manifest['mxnet']} has no op named {op!r}: no reference")
    failures = [line for case in mine for line in check_case(case)]
    assert not failures, f"{len(failures)} of {len(mine)} {op} cases differ from MXNet:\n" + (
        "\n".join(failures)
    )


def test_every_generated_op_is_converted() -> None:
    """The generator's cases and the converter table name the same ops."""
    converted = set(table("mxnet"))
    generated = {c["op"] for c in cases("oneop")}
    assert generated <= converted, f"cases for unconverted ops: {generated - converted}"


@pytest.mark.parametrize("layout", ["legacy_v08", "legacy_v09"])
def test_pre_1_0_json_layout(layout: str) -> None:
    """A symbol in the pre-1.0 layouts (``param``/``attr`` keys) converts to the same graph as
    its current-layout twin and matches MXNet's output after MXNet's own upgrade."""
    legacy = {c["name"]: c for c in cases("legacy")}
    assert not check_case(legacy[layout])
    old, new = _convert(legacy[layout]), _convert(legacy["current"])
    assert [n.op for n in old.nodes] == [n.op for n in new.nodes]  # type: ignore[attr-defined]
    assert set(old.params) == set(new.params)  # type: ignore[attr-defined]
