"""The net_to_xml reader on every dlib layer kind, and on the ill-formed XML dlib writes.

dlib's own cases (``make dlib20-vocab``) are compared with their .dat in
``test_dat_vocabulary.py``; here: the repairs (slice's duplicate attribute, the grayscale
pyramid's stray quote, dlib 19's doubled ``>`` in fc), non-finite attributes, the
multiclass loss's label text and refusals that name the line.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest

from faceport.converters.dlib import xml_repair
from faceport.converters.dlib.xml_layer import LayerDecoder
from faceport.converters.dlib.xml_reader import read_xml
from faceport.converters.dlib.xml_vocabulary import COMP, INPUT, KINDS, parse_value
from faceport.errors import FormatError, UnsupportedOpError
from faceport.registry import supported_ops
from tests.converters.dlib import vocab_cases as vc


def _net(*layers: str, top: str = "<loss_multiclass_log/>",
         bottom: str = "<input/>") -> str:
    body = [f"<layer idx='0' type='loss'>\n{top}\n</layer>"]
    for i, element in enumerate(layers, start=1):
        body.append(f"<layer idx='{i}' type='comp'>\n{element}\n</layer>")
    body.append(f"<layer idx='{len(layers) + 1}' type='input'>\n{bottom}\n</layer>")
    return "<net>\n" + "\n".join(body) + "\n</net>\n"


def _read(tmp_path: Path, text: str) -> tuple[list, dict]:
    path = tmp_path / "net.xml"
    path.write_text(text)
    return read_xml(path)


def test_every_converter_kind_is_in_the_xml_vocabulary() -> None:
    ops = set(supported_ops("dlib"))
    missing = {op for op in ops if not op.startswith("loss_")} - set(COMP) - {"tag", "skip"}
    assert not missing, f"converted but not readable from XML: {sorted(missing)}"


_VOCABULARY = [
    (where, tag, key, kind, required)
    for where, table in (("comp", COMP), ("input", INPUT))
    for tag, attrs in table.items()
    for key, (kind, required) in attrs.items()
]


def test_every_value_kind_is_described_and_parsed() -> None:
    """A kind a table uses but KINDS (the error vocabulary) or parse_value lacks was a
    KeyError / ValueError escaping the reader (<tril/>: kinds int and real)."""
    used = {kind for *_, kind, _ in _VOCABULARY}
    assert used <= set(KINDS), f"kinds without a description: {sorted(used - set(KINDS))}"
    for kind in KINDS:
        parse_value(kind, "1")  # every kind accepts a plain 1, none is unknown to parse_value


@pytest.mark.parametrize(("where", "tag", "key", "kind", "required"), _VOCABULARY,
                         ids=[f"{t}.{k}" for _, t, k, _, _ in _VOCABULARY])
def test_every_vocabulary_attribute_fails_as_a_located_format_error(
    tmp_path: Path, where: str, tag: str, key: str, kind: str, required: bool
) -> None:
    """Each attribute of each tag, missing (when required) and with a value of the wrong
    kind: a FormatError naming file, line, ``tag.key`` and what was expected."""
    table = (INPUT if where == "input" else COMP)[tag]
    good = {"count": "1", "size": "0", "int": "0", "float": "1", "real": "-inf",
            "bool": "true", "ids": "1", "text": "channel_wise"}
    attrs = {k: good[kd] for k, (kd, req) in table.items() if req}
    cases = []
    if required:
        cases.append(({k: v for k, v in attrs.items() if k != key}, KINDS[kind], "nothing"))
    if kind != "text":
        cases.append(({**attrs, key: "@"}, None, "@"))
    for case, expected, found in cases:
        element = f"<{tag} " + " ".join(f"{k}='{v}'" for k, v in case.items()) + "/>"
        text = _net(element) if where == "comp" else _net("<relu/>", bottom=element)
        with pytest.raises(FormatError) as info:
            _read(tmp_path, text)
        err = info.value
        assert err.field == f"{tag}.{key}" and err.file == str(tmp_path / "net.xml"), str(err)
        assert err.line is not None and err.expected and err.found == found, str(err)
        if expected is not None:
            assert err.expected == expected


@pytest.mark.parametrize("element", ["<tril/>", "<tril diag='0'/>", "<tril diag_value='1'/>"])
def test_tril_missing_attributes_are_format_errors(tmp_path: Path, element: str) -> None:
    """The fuzzer's find: KeyError('int') / KeyError('real') out of the layer decoder."""
    with pytest.raises(FormatError, match="lacks attribute") as info:
        _read(tmp_path, _net(element))
    assert info.value.field in ("tril.diag", "tril.diag_value") and info.value.line == 6


def test_unknown_value_kind_is_a_format_error() -> None:
    decoder = LayerDecoder("net.xml", "net.xml")
    for attrib in ({}, {"x": "1"}):
        with pytest.raises(FormatError) as info:
            decoder.value("weird", "x", "no_such_kind", attrib, 7)
        assert info.value.field == "weird.x" and info.value.line == 7


def test_slice_duplicate_offset_nr_is_renamed(tmp_path: Path) -> None:
    slice_ = ("<slice offset_k='1' offset_nr='2' offset_nr='3' k='4' nr='5' nc='6'/>")
    layers, facts = _read(tmp_path, _net(slice_))
    assert layers[1].attrs == {"offset_k": 1, "offset_nr": 2, "offset_nc": 3, "k": 4,
                               "nr": 5, "nc": 6}
    assert facts["repairs"] == {"slice_offset_nc": 1}


def test_repair_across_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _net(*["<slice offset_k='0' offset_nr='1' offset_nr='2' k='1' nr='1' nc='1'/>"] * 5,
                *["<leaky_relu alpha='0.5'>\n<leaky_relu/>"] * 3,
                bottom="<input_grayscale_image_pyramid' pyramid_padding='10' "
                       "pyramid_outer_padding='11'/>")
    monkeypatch.setattr(xml_repair, "_CHUNK", 7)
    stream = xml_repair.RepairingReader(io.BytesIO(text.encode()))
    pieces = []
    while piece := stream.read(5):
        pieces.append(piece)
    repaired = b"".join(pieces).decode()
    assert repaired.count("offset_nc='2'") == 5 and "pyramid'" not in repaired
    assert repaired.count("<leaky_relu alpha='0.5'/>") == 3
    assert repaired.count("\n") == text.count("\n")  # line numbers still match the file
    assert stream.repairs == {"slice_offset_nc": 5, "grayscale_pyramid_quote": 1,
                              "unclosed_activation": 3, "layer_norm_lt": 0}


def test_grayscale_pyramid_stray_quote(tmp_path: Path) -> None:
    bottom = "<input_grayscale_image_pyramid' pyramid_padding='10' pyramid_outer_padding='11'/>"
    layers, facts = _read(tmp_path, _net("<relu/>", bottom=bottom))
    assert layers[-1].kind == "input_grayscale_image_pyramid"
    assert layers[-1].attrs == {"pyramid_padding": 10, "pyramid_outer_padding": 11}
    assert facts["repairs"] == {"grayscale_pyramid_quote": 1}


def test_dlib19_unclosed_activations_and_layer_norm_without_lt(tmp_path: Path) -> None:
    """What dlib 19.24's to_xml writes for leaky_relu, smelu and layer_norm."""
    text = _net("<leaky_relu alpha='0.00999999978'>\n<leaky_relu/>",
                "<smelu beta='1'>\n<smelu/>",
                "layer_norm eps='1e-05' learning_rate_mult='1' weight_decay_mult='0' "
                "bias_learning_rate_mult='1' bias_weight_decay_mult='1'>\n1\n2\n</layer_norm>",
                "<bad/>")
    with pytest.raises(UnsupportedOpError) as info:  # line numbers are the file's own
        _read(tmp_path, text)
    assert info.value.line == 20
    layers, facts = _read(tmp_path, text.replace("<bad/>", "<relu/>"))
    assert layers[1].attrs == {"alpha": pytest.approx(0.01)} and layers[2].attrs == {"beta": 1.0}
    assert layers[3].params["beta"].tolist() == [2.0]
    assert facts["repairs"] == {"unclosed_activation": 2, "layer_norm_lt": 1}


def test_dlib19_fc_doubled_gt(tmp_path: Path) -> None:
    fc = ("<fc num_outputs='2' learning_rate_mult='1' weight_decay_mult='1' "
          "bias_learning_rate_mult='1' bias_weight_decay_mult='0' use_bias='true'>\n>\n"
          "1 2\n3 4\n5 6\n</fc>")
    layers, facts = _read(tmp_path, _net(fc))
    assert layers[1].params["weight"].tolist() == [[1, 2], [3, 4]]
    assert layers[1].params["bias"].tolist() == [5, 6]
    assert facts["repairs"] == {"fc_stray_gt": 1}


def test_sequence_layers_attrs_and_params(tmp_path: Path) -> None:
    text = _net(
        "<linear num_outputs='2' bias='false' learning_rate_mult='1'>\n1 2\n3 4\n5 6\n</linear>",
        "<rms_norm eps='1e-05' learning_rate_mult='1' weight_decay_mult='0' "
        "bias_learning_rate_mult='1' bias_weight_decay_mult='1'>\n1\n2\n</rms_norm>",
        "<layer_norm eps='1e-05' learning_rate_mult='1' weight_decay_mult='0' "
        "bias_learning_rate_mult='1' bias_weight_decay_mult='1'>\n1\n2\n3\n4\n</layer_norm>",
        "<embeddings num_embeddings='3' embedding_dim='2' learning_rate_mult='1'>\n"
        "0 1\n2 3\n4 5\n</embeddings>",
        "<tril diag='-1' diag_value='-inf'/>",
        "<softmax/>",
        "<softmax mode='plane_wise'/>",
        "<reshape_to k='2' nr='3' nc='4' mode='pure_reshape'/>",
        "<multm_prev tag='1'/>",
        "<positional_encodings />",
        "<transpose />",
        "<reorg row_stride='2' col_stride='2'/>",
    )
    layers, _ = _read(tmp_path, text)
    linear, rms, norm, emb, tril, soft, softm, reshape = layers[1:9]
    assert linear.params["weight"].shape == (3, 2) and "bias" not in linear.params
    assert rms.params["gamma"].tolist() == [1, 2]
    assert norm.params["gamma"].tolist() == [1, 2] and norm.params["beta"].tolist() == [3, 4]
    assert emb.params["embeddings"].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert tril.attrs == {"diag": -1, "diag_value": -math.inf}
    assert soft.attrs == {"mode": "channel_wise"} and softm.attrs == {"mode": "plane_wise"}
    assert reshape.attrs == {"k": 2, "nr": 3, "nc": 4, "mode": "pure_reshape"}
    assert layers[9].attrs == {"tag": 1}


@pytest.mark.parametrize(
    ("element", "field"),
    [
        ("<linear num_outputs='2' bias='true'>\n1 2 3\n</linear>", "linear.params"),
        ("<embeddings num_embeddings='3' embedding_dim='2'>\n1 2\n</embeddings>",
         "embeddings.params"),
        ("<rms_norm eps='1e-5'>\n</rms_norm>", "rms_norm.params"),
        ("<tril diag='0' diag_value='nan'/>", "tril.diag_value"),
        ("<slice offset_k='0' offset_nr='0' offset_nc='0' k='0' nr='1' nc='1'/>", "slice.k"),
    ],
)
def test_bad_sequence_layers_name_line_and_field(tmp_path: Path, element: str,
                                                 field: str) -> None:
    with pytest.raises(FormatError) as info:
        _read(tmp_path, _net("<relu/>", element))
    assert info.value.field == field and info.value.line == 9


def test_multimulticlass_labels(tmp_path: Path) -> None:
    top = ("<loss_multimulticlass_log>\nloss_multimulticlass_log, "
           "labels={color:(red,green,blue), size:(small,big)}\n</loss_multimulticlass_log>")
    layers, _ = _read(tmp_path, _net("<relu/>", top=top))
    assert layers[0].attrs == {"labels": {"color": ["red", "green", "blue"],
                                          "size": ["small", "big"]}}
    with pytest.raises(FormatError, match="label text"):
        _read(tmp_path, _net("<relu/>", top=top.replace("labels=", "names=")))


def test_dlib20_cases_read_with_their_repairs() -> None:
    root = vc.cases_dir()
    layers, facts = read_xml(root / "case_slice.xml")
    assert facts["repairs"] == {"slice_offset_nc": 1}
    assert {k: layers[1].attrs[k] for k in ("offset_k", "offset_nr", "offset_nc")} == {
        "offset_k": 1, "offset_nr": 1, "offset_nc": 2}
    layers, facts = read_xml(root / "case_grayscale_pyramid.xml")
    assert facts["repairs"] == {"grayscale_pyramid_quote": 1}
    layers, _ = read_xml(root / "case_tril_mask.xml")
    assert layers[1].attrs["diag_value"] == -math.inf
    layers, _ = read_xml(root / "case_con_relu_fused.xml")
    assert layers[1].attrs == {"disabled": True} and layers[2].attrs["use_relu"] is True
    layers, _ = read_xml(root / "case_repeat_conv.xml")
    assert [x.kind for x in layers[1:7]] == ["max_pool", "relu", "con", "relu", "con", "relu"]
    out = vc.run_graph(vc.graph_of(root / "case_repeat_conv.xml"),
                       np.load(root / "case_repeat_conv_in.npy"))
    assert vc.max_abs_error(out, np.load(root / "case_repeat_conv_out.npy")) < 1e-4
