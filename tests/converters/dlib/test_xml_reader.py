"""read_xml on dlib's real net_to_xml output (face.xml) and on hostile XML."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceport.converters.dlib.floattext import FloatTextError, parse_floats
from faceport.converters.dlib.xml_reader import read_xml
from faceport.errors import FaceportError, FormatError, UnsupportedOpError
from tests.conftest import shared_fixture

FACE_SHAPES = {  # dlib index -> param shapes (mmod_human_face_detector in its affine form)
    1: {"weight": (1, 45, 9, 9), "bias": (1,)},
    3: {"gamma": (45,), "beta": (45,)},
    4: {"weight": (45, 45, 5, 5), "bias": (45,)},
    6: {"gamma": (45,), "beta": (45,)},
    7: {"weight": (45, 45, 5, 5), "bias": (45,)},
    9: {"gamma": (45,), "beta": (45,)},
    10: {"weight": (45, 32, 5, 5), "bias": (45,)},
    12: {"gamma": (32,), "beta": (32,)},
    13: {"weight": (32, 32, 5, 5), "bias": (32,)},
    15: {"gamma": (32,), "beta": (32,)},
    16: {"weight": (32, 16, 5, 5), "bias": (32,)},
    18: {"gamma": (16,), "beta": (16,)},
    19: {"weight": (16, 3, 5, 5), "bias": (16,)},
}


@pytest.fixture(scope="module")
def face() -> tuple[list, dict, Path]:
    path = shared_fixture("dlib/face.xml")
    layers, facts = read_xml(path)
    return layers, facts, path


def test_face_xml_layers(face: tuple) -> None:
    layers, facts, _ = face
    assert facts == {"format": "net_to_xml"}
    assert [layer.idx for layer in layers] == list(range(21))
    assert Counter(layer.kind for layer in layers) == {
        "con": 7,
        "relu": 6,
        "affine_con": 6,
        "input_rgb_image_pyramid": 1,
        "loss_mmod": 1,
    }
    assert layers[0].kind == "loss_mmod" and layers[0].attrs == {} and layers[0].params == {}
    assert layers[20].attrs == {
        "r": 122.781998,
        "g": 117.000999,
        "b": 104.297997,
        "pyramid_padding": 10,
        "pyramid_outer_padding": 11,
    }
    for layer in layers:
        shapes = {role: a.shape for role, a in layer.params.items()}
        assert shapes == FACE_SHAPES.get(layer.idx, {}), layer.name
        assert all(a.dtype == np.float32 for a in layer.params.values())
    first = layers[1]
    assert first.attrs["num_filters"] == 1 and first.attrs["padding_y"] == 4
    assert first.attrs["use_bias"] is True  # absent in this older file: dlib always had a bias
    assert first.attrs["bias_weight_decay_mult"] == 0.0
    assert first.source.file == "face.xml" and first.source.line == 4
    # libxml2 keeps exact element lines up to 65535; above that they may be one off
    assert abs(layers[20].source.line - 181208) <= 1


def test_face_xml_values_match_the_text(face: tuple) -> None:
    layers, _, path = face
    lines = path.read_text().splitlines()
    # the first con's text starts on line 6 (after its start tag) in C order
    expected = np.array([float(x) for x in lines[5:10]], dtype=np.float32)
    np.testing.assert_array_equal(layers[1].params["weight"].ravel()[:5], expected)
    total = sum(a.size for layer in layers for a in layer.params.values())
    assert total == 181141  # every number between the con/affine tags


def test_parse_floats_non_finite_and_errors() -> None:
    out = parse_floats(" 1\n-2.5e-3 nan -inf .5 3. ")
    np.testing.assert_array_equal(
        out[[0, 1, 4, 5]], np.array([1, -2.5e-3, 0.5, 3], dtype=np.float32)
    )
    assert np.isnan(out[2]) and out[3] == -np.inf
    for text, index, token in [
        ("1 2 x", 2, "x"),
        ("1 1.2.3", 1, "1.2.3"),
        ("1e", 0, "1e"),
        ("1_0", 0, "1_0"),
        ("0x10", 0, "0x10"),
    ]:
        with pytest.raises(FloatTextError) as info:
            parse_floats(text)
        assert (info.value.index, info.value.token) == (index, token)


def _write(tmp_path: Path, text: str | bytes, name: str = "net.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _net(*layers: str) -> str:
    return "<net>\n" + "".join(layers) + "</net>\n"


RELU = "<layer idx='0' type='comp'>\n<relu/>\n</layer>\n"
INPUT = "<layer idx='{i}' type='input'>\n<input_rgb_image r='1' g='2' b='3'/></layer>\n"


def _con(body: str, idx: int = 0, **attrs: str) -> str:
    base = {
        "num_filters": "2",
        "nr": "1",
        "nc": "1",
        "stride_y": "1",
        "stride_x": "1",
        "padding_y": "0",
        "padding_x": "0",
    }
    base.update(attrs)
    text = " ".join(f"{k}='{v}'" for k, v in base.items() if v != "DROP")
    return f"<layer idx='{idx}' type='comp'>\n<con {text}>\n{body}</con></layer>\n"


def test_small_network_reads(tmp_path: Path) -> None:
    path = _write(tmp_path, _net(_con("1 2 3 4 5 6 0.5 -0.5\n"), INPUT.format(i=1)))
    layers, _ = read_xml(path)
    np.testing.assert_array_equal(layers[0].params["weight"].ravel(), [1, 2, 3, 4, 5, 6])
    assert layers[0].params["weight"].shape == (2, 3, 1, 1)
    np.testing.assert_array_equal(layers[0].params["bias"], [0.5, -0.5])
    no_bias, _ = read_xml(
        _write(tmp_path, _net(_con("1 2 3 4", use_bias="false"), INPUT.format(i=1)))
    )
    assert set(no_bias[0].params) == {"weight"} and no_bias[0].params["weight"].shape == (
        2,
        2,
        1,
        1,
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE net [\n<!ENTITY a "aaaaaaaaaa">\n'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n' for i in range(8))
    + "]>\n<net><layer idx='0' type='comp'><relu/>&i;</layer></net>\n"
)


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        (BILLION_LAUGHS, "DOCTYPE", 2),
        ('<!DOCTYPE net SYSTEM "file:///etc/passwd"><net/>', "DOCTYPE", 1),
        ("<?xml version='1.0' encoding='UTF-7'?><net/>", "encoding", 1),
        ("<!-- c -->\n<!ENTITY x 'y'><net/>", "DOCTYPE", 2),
        (_net(RELU)[:-8], "malformed XML", None),
        ("<network/>", "root element", 1),
        ("plain text", "not an XML document", 1),
        (_net(RELU.replace("<relu/>", "<relu><x><y/></x></relu>")), "deeper", 3),
        (_net("<layer idx='0' type='tag' id='1'><relu/></layer>"), "no content", 2),
        (_net("<layer idx='0' type='comp'><relu/><relu/></layer>"), "more than one", 2),
        (_net("<layer idx='-1' type='comp'><relu/></layer>"), "bad attribute 'idx'", 2),
        (_net("<layer idx='0' type='weird'><relu/></layer>"), "bad <layer> type", 2),
        (_net("<layer idx='0' type='comp'/>"), "has no element", 2),
        (_net("<layer idx='0' type='comp'>junk<relu/></layer>"), "unexpected text", 2),
        (_net(_con("1 2 3 4 5 6 7 8 9")), "wrong parameter count", 3),
        (_net(_con("1 2 3 zz 5 6")), "bad number", 4),
        (_net(_con("1 2\n3 4\n5 ; 6")), "bad number", 6),
        (_net(_con("1 2 3 4", num_filters="two")), "num_filters", 3),
        (_net(_con("1 2 3 4", padding_x="-1")), "padding_x", 3),
        (_net(_con("1 2 3 4", nr="DROP")), "lacks attribute 'nr'", 3),
        (_net(_con("1 2 3 4", use_bias="maybe")), "use_bias", 3),
        (_net("<layer idx='0' type='comp'><relu>1 2</relu></layer>"), "parameter count", 2),
        (_net("<layer idx='0' type='comp'><bn_con eps='nan'>1 2</bn_con></layer>"), "eps", 2),
        (_net("<layer idx='0' type='comp'><concat tags='1,x'/></layer>"), "tags", 2),
        (_net("<layer idx='0' type='loss'><relu/></layer>"), "not a loss", 2),
        ("<net>\n</net>\n", "no <layer>", None),
    ],
)
def test_hostile_and_malformed_xml(tmp_path: Path, text: str, match: str, line: int | None) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FormatError, match=match) as info:
        read_xml(path)
    assert info.value.file == str(path)
    if line is not None:
        assert info.value.line == line


def test_bad_number_names_field_and_token(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as info:
        read_xml(_write(tmp_path, _net(_con("1 2\n3 4\n5 ; 6"))))
    assert info.value.field == "con.params[5]" and info.value.found == ";"


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, _net(RELU).encode("utf-16"))
    with pytest.raises(FormatError, match="ASCII-compatible"):
        read_xml(path)


def test_unknown_layer_tag(tmp_path: Path) -> None:
    path = _write(tmp_path, _net("<layer idx='0' type='comp'>\n<warp_affine k='1'/></layer>\n"))
    with pytest.raises(UnsupportedOpError) as info:
        read_xml(path)
    err = info.value
    assert (err.framework, err.op, err.node, err.line) == ("dlib", "warp_affine", "layer 0", 3)
    assert "con" in err.supported and "max_pool" in err.supported
    bad_input = _write(tmp_path, _net("<layer idx='0' type='input'><input_mystery/></layer>"))
    with pytest.raises(UnsupportedOpError, match="input_mystery"):
        read_xml(bad_input)


def test_truncated_face_xml_is_a_format_error(face: tuple, tmp_path: Path) -> None:
    data = face[2].read_bytes()
    for cut in (10, 300, len(data) // 2, len(data) - 20):
        with pytest.raises(FormatError):
            read_xml(_write(tmp_path, data[:cut], f"cut{cut}.xml"))


SEED = _net(
    _con("1 2 3 4 5 6 0.5 -0.5\n", idx=0),
    "<layer idx='1' type='tag' id='1'/>\n",
    "<layer idx='2' type='comp'>\n<max_pool nr='3' nc='3' stride_y='1' stride_x='1' "
    "padding_y='1' padding_x='1'/>\n</layer>\n",
    INPUT.format(i=3),
)
HOSTILE = [
    b"<!DOCTYPE x [<!ENTITY e 'ee'>]>",
    b"&e;",
    b"\x00",
    b"\xff\xfe",
    b"]]>",
    b"<![CDATA[",
    b"1e999",
    b"nan",
    b"'",
    b"<layer idx='9'>",
    b"</net>",
    b"\n" * 3,
    b"-",
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(0, len(SEED)),
    at=st.integers(0, len(SEED)),
    junk=st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=12)),
    drop=st.integers(0, 8),
)
def test_mutated_xml_raises_only_faceport_errors(
    tmp_path: Path, cut: int, at: int, junk: bytes, drop: int
) -> None:
    data = SEED.encode()
    mutated = data[:at] + junk + data[at + drop :]
    for variant in (mutated, data[:cut]):
        path = _write(tmp_path, variant, "fuzz.xml")
        with contextlib.suppress(FaceportError):
            read_xml(path)


@pytest.mark.parametrize(
    "later",
    [
        "<layer idx='9' type='weird'><relu/></layer>\n",  # the reader's own check
        "<layer idx='9' type='comp'><relu></layer>\n",  # libxml2's syntax error
        _con("1 2 x 4", idx=9),  # another bad number, decoded later
    ],
)
def test_first_error_in_file_order_wins(tmp_path: Path, later: str) -> None:
    """Layers are decoded on a worker thread while libxml2 parses on: a bad layer is still
    reported before anything wrong further down the file."""
    fillers = "".join(_con("1 2 3 4", idx=i) for i in range(1, 5))
    text = _net(_con("1 2\n3 4\n5 ; 6", idx=0), fillers, later)
    with pytest.raises(FormatError) as info:
        read_xml(_write(tmp_path, text))
    assert info.value.field == "con.params[5]" and info.value.line == 6


@pytest.mark.parametrize("culprit", ["<slice", "<leaky_relu", "layer_norm", None])
def test_needs_repair_sees_culprits_across_chunk_edges(tmp_path: Path, culprit: str | None) -> None:
    """Files with no culprit skip the repairing stream; a culprit split by the 1 MiB read
    boundary is still found."""
    from faceport.converters.dlib import xml_repair

    head = b"<net>\n" + b"0.125\n" * ((xml_repair._CHUNK - 8) // 6)
    pad = xml_repair._CHUNK - len(head) - 3  # the culprit starts 3 bytes before the edge
    body = head + b"1" * pad + (culprit.encode() if culprit else b"<relu") + b" x='1'/>\n</net>\n"
    path = _write(tmp_path, body)
    assert xml_repair.needs_repair(path) is (culprit is not None)
