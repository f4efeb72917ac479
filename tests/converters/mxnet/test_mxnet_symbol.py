"""symbol.json: every layout, attribute string forms, and every structural defect."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mx_files import Sym

from faceport.converters.mxnet.attrs import parse_value
from faceport.converters.mxnet.symbol import load_symbol, parse_symbol
from faceport.errors import FaceportError, FormatError
from tests.conftest import shared_fixture


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("(1,1)", [1, 1]),
        ("(1, 1)", [1, 1]),
        ("[3, 3]", [3, 3]),
        ("(3,)", [3]),
        ("()", []),
        ("(1L, 2L)", [1, 2]),
        ("8L", 8),
        ("8", 8),
        ("-4", -4),
        ("True", True),
        ("false", False),
        ("None", None),
        ("1e-05", 1e-05),
        ("0.001", 0.001),
        ("(None, 2)", [None, 2]),
        ("(0, 2, -1, 0)", [0, 2, -1, 0]),
        ("relu", "relu"),
        ("NCHW", "NCHW"),
        ("(1, 2]", "(1, 2]"),
        ("(a, b)", "(a, b)"),
    ],
)
def test_attribute_string_forms(text: str, value: Any) -> None:
    assert parse_value(text) == value


def test_attribute_limits() -> None:
    with pytest.raises(FormatError, match="too long"):
        parse_value("1" * 5000, file="s.json", field="nodes[1].attrs.kernel")
    with pytest.raises(FormatError, match="tuple too long"):
        parse_value("(" + ",".join(["1"] * 100) + ")")
    assert parse_value("99999999999999999999999") != 99999999999999999999999  # not an int64


def _small() -> Sym:
    s = Sym()
    d = s.var("data")
    w = s.var("c_weight")
    c = s.op("Convolution", "c", [d, w], kernel=(3, 3), num_filter=4, no_bias=True)
    s.op("Activation", "r", [c], act_type="relu")
    return s


@pytest.mark.parametrize("layout", ["1.x", "0.x"])
def test_both_layouts_read_the_same(layout: str) -> None:
    sym = parse_symbol(_small().to_json(layout), "m-symbol.json")
    conv = sym.nodes[2]
    assert conv.op == "Convolution" and conv.inputs == ((0, 0), (1, 0))
    assert conv.attrs == {"kernel": [3, 3], "num_filter": 4, "no_bias": True}
    assert sym.heads == ((3, 0),)


def test_real_mnet25_symbol() -> None:
    sym = load_symbol(shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json"))
    assert len(sym.nodes) == 436 and sym.mxnet_version == 10400 and len(sym.heads) == 9
    assert all(sym.reachable())


def _bad(data: Any, match: str, field: str | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as info:
        parse_symbol(data, "bad-symbol.json")
    assert info.value.file == "bad-symbol.json"
    if field is not None:
        assert info.value.field is not None and field in info.value.field
    return info.value


def test_forward_reference_and_cycles() -> None:
    data = _small().to_json()
    data["nodes"][2]["inputs"][0] = [3, 0, 0]
    _bad(data, "refers forward", "nodes[2] (c).inputs[0]")
    data["nodes"][3]["inputs"][0] = [3, 0, 0]  # self loop
    _bad(data, "refers forward")


def test_out_of_range_and_negative_entries() -> None:
    data = _small().to_json()
    data["nodes"][3]["inputs"][0] = [-1, 0, 0]
    _bad(data, "negative", "nodes[3] (r)")
    data = _small().to_json()
    data["heads"] = [[17, 0, 0]]
    _bad(data, "node entry", "heads[0]")
    data["heads"] = [[0, 0, 0]]
    _bad(data, "variable", "heads[0]")
    data["heads"] = []
    _bad(data, "no outputs")


def test_duplicate_names() -> None:
    data = _small().to_json()
    data["nodes"][3]["name"] = "c"
    _bad(data, "duplicate node name 'c'", "nodes[3] (c).name")


def test_bad_node_shapes() -> None:
    for mutate, match in [
        (lambda d: d["nodes"].__setitem__(1, 7), "not an object"),
        (lambda d: d["nodes"][2].pop("op"), "no op"),
        (lambda d: d["nodes"][2].__setitem__("name", ""), "no name"),
        (lambda d: d["nodes"][2].__setitem__("inputs", [[0]]), "bad node entry"),
        (lambda d: d["nodes"][2].__setitem__("inputs", [[0, True]]), "bad node entry"),
        (lambda d: d["nodes"][2]["attrs"].__setitem__("kernel", [3, 3]), "not a string"),
        (lambda d: d["nodes"][0].__setitem__("inputs", [[1, 0, 0]]), "refers forward"),
        (lambda d: d.__setitem__("arg_nodes", [2]), "not a variable"),
        (lambda d: d.__setitem__("arg_nodes", [99]), "out of range"),
        (lambda d: d.__setitem__("node_row_ptr", [0, 1]), "node_row_ptr"),
        (lambda d: d.__setitem__("nodes", []), "no node list"),
        (lambda d: d["attrs"].__setitem__("mxnet_version", "1.9"), "mxnet_version"),
        (lambda d: d["nodes"][2].__setitem__("backward_source_id", "x"), "backward_source_id"),
    ]:
        data = _small().to_json()
        mutate(data)
        _bad(data, match)


def test_row_ptr_checks_output_indices() -> None:
    data = _small().to_json()
    data["nodes"][3]["inputs"][0] = [2, 1, 0]  # Convolution has one output
    _bad(data, "does not have", "nodes[3] (r).inputs[0]")


@pytest.mark.parametrize(
    "text",
    [b"", b"{", b"[1, 2]", b"\xff\xfe", b'{"nodes": 3}', b"[" * 100000 + b"]" * 100000,
     b'{"nodes": [{"op": "null", "name": "d", "inputs": []}], "heads": [[0, 0' + b"0" * 5000
     + b"]]}"],
)
def test_malformed_json(tmp_path: Any, text: bytes) -> None:
    path = tmp_path / "m-symbol.json"
    path.write_bytes(text)
    with pytest.raises(FormatError) as info:
        load_symbol(path)
    assert info.value.file == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-symbol.json"]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 1 << 40) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["op", "name", "inputs", "attrs", "param", "attr"]), _json_values,
       st.integers(0, 3))
def test_hostile_node_fields(key: str, value: Any, index: int) -> None:
    data = _small().to_json()
    data["nodes"][index][key] = value
    try:
        parse_symbol(json.loads(json.dumps(data)), "h-symbol.json")
    except FaceportError as exc:
        assert exc.file == "h-symbol.json"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_hostile_attribute_strings(text: str) -> None:
    data = _small().to_json()
    data["nodes"][2]["attrs"]["kernel"] = text
    try:
        sym = parse_symbol(data, "h-symbol.json")
    except FaceportError as exc:
        assert exc.file == "h-symbol.json"
    else:
        assert sym.nodes[2].attrs["kernel"] is not None or text.strip() == "None"
