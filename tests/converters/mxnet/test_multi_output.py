"""Multi-output ops: every output of a ``SliceChannel`` usable downstream (MTCNN-style heads
are split this way), named ``<node>`` / ``<node>_output<k>``, checked against real MXNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceport.backends import make_runner
from faceport.converters import convert
from faceport.errors import FormatError
from faceport.tolerance import Tolerance
from faceport.verify.compare import compare_arrays
from tests.converters.mxnet.mx_files import params_bytes

STRICT = Tolerance(1e-5, 1e-5)  # x max|ref|: the acceptance bound


def _node(op: str, name: str, inputs: list[list[int]], **attrs: str) -> dict:
    return {"op": op, "name": name, "attrs": attrs, "inputs": [[i, k, 0] for i, k in inputs]}


def _mtcnn_like(tmp: Path, *, use: int = 2) -> Path:
    """conv -> split in 3 along channels; part 0 relu, part 1 sigmoid, part ``use`` added to
    the relu; heads: the relu, the sigmoid, the sum and part 2 itself."""
    nodes = [
        _node("null", "data", []),
        _node("null", "conv_weight", []),
        _node("null", "conv_bias", []),
        _node("Convolution", "conv", [[0, 0], [1, 0], [2, 0]], kernel="(3, 3)", num_filter="6",
              pad="(1, 1)"),
        _node("SliceChannel", "split", [[3, 0]], num_outputs="3", axis="1"),
        _node("Activation", "relu", [[4, 0]], act_type="relu"),
        _node("Activation", "prob", [[4, 1]], act_type="sigmoid"),
        _node("elemwise_add", "sum", [[5, 0], [4, use]]),
    ]
    heads = [[5, 0, 0], [6, 0, 0], [7, 0, 0], [4, 2, 0]]
    counts = [3 if n["op"] == "SliceChannel" else 1 for n in nodes]
    row_ptr = [0, *np.cumsum(counts).tolist()]  # MXNet's running count of node outputs
    data = {"nodes": nodes, "arg_nodes": [0, 1, 2], "heads": heads, "node_row_ptr": row_ptr,
            "attrs": {"mxnet_version": ["int", 10901]}}  # fmt: skip
    symbol = tmp / "mtcnn-symbol.json"
    symbol.write_text(json.dumps(data))
    rng = np.random.RandomState(0)
    weights = {"arg:conv_weight": rng.normal(0, 0.3, (6, 3, 3, 3)).astype(np.float32),
               "arg:conv_bias": rng.normal(0, 0.1, (6,)).astype(np.float32)}  # fmt: skip
    (tmp / "mtcnn-0000.params").write_bytes(params_bytes(weights))
    return symbol


def test_every_output_of_a_split_is_wired_and_named(tmp_path: Path) -> None:
    graph = convert(_mtcnn_like(tmp_path))
    split = graph.node("split")
    assert split.outputs == ("split", "split_output1", "split_output2")
    assert graph.node("prob").inputs == ("split_output1",)
    assert graph.outputs == ("relu", "prob", "sum", "split_output2")


def test_an_output_past_the_op_s_count_is_refused(tmp_path: Path) -> None:
    symbol = _mtcnn_like(tmp_path, use=3)
    data = json.loads(symbol.read_text())
    del data["node_row_ptr"]  # older files have none: the op's own output count decides
    symbol.write_text(json.dumps(data))
    with pytest.raises(FormatError, match="output 3 of SliceChannel 'split' is used; it has 3"):
        convert(symbol)


@pytest.mark.reference
def test_mtcnn_like_graph_matches_mxnet(tmp_path: Path) -> None:
    from faceport.verify.references.mxnet_venv import MXNetRunner, why_mxnet_unavailable

    if (reason := why_mxnet_unavailable()) is not None:
        pytest.skip(f"MXNet reference unavailable: {reason}")
    symbol = _mtcnn_like(tmp_path)
    graph = convert(symbol)
    x = np.random.RandomState(1).uniform(-1, 1, (2, 3, 12, 14)).astype(np.float32)
    with MXNetRunner(symbol, tmp_path / "mtcnn-0000.params") as mxnet:
        theirs = mxnet.infer({"data": x})
    with make_runner("torch-cpu", graph) as torch_cpu, make_runner("onnxruntime-cpu", graph) as ort:
        mine, exported = torch_cpu.infer({"data": x}), ort.infer({"data": x})
    assert len(theirs) == len(graph.outputs) == 4
    for ref, ours in zip(theirs.values(), graph.outputs):  # positional, as MXNet's heads
        for label, got in (("torch", mine[ours]), ("onnxruntime", exported[ours])):
            result = compare_arrays(f"{label} {ours}", ref, got, STRICT)
            assert result, str(result)
