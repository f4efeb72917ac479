"""RetinaFace mnet.25 (real insightface weights): faceport vs MXNet 1.9.1 on real photos.

Every photo of ../shared/fixtures/images, at its own size and resized to 640x480: each of the
9 outputs must agree within max-abs 1e-4, and the detections that insightface's
post-processing (:func:`decode_retinaface`, threshold 0.5, NMS 0.4) makes from faceport's
outputs must match those it makes from MXNet's: same count, IoU >= 0.99, landmarks within
0.5 px. All MXNet runs of the module go through one MXNet process.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.detect.retinaface import RetinaFaceDetector, decode_retinaface
from faceport.imageio import list_images, load_rgb
from faceport.tolerance import Tolerance
from faceport.verify.compare import compare_arrays, compare_detections
from faceport.verify.references.mxnet_venv import MXNetRunner, why_mxnet_unavailable

pytestmark = pytest.mark.reference
log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
MNET = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
PARAMS = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-0000.params"
ABS_1E4 = Tolerance(1e-4, 0.0, relative_to_scale=False)


def _photos() -> list[Path]:
    folders = [SHARED / "images" / "dlib_examples_faces", SHARED / "images" / "sfd_pytorch"]
    return [p for f in folders if f.is_dir() for p in list_images(f)]


CASES = [(p, size) for p in _photos() for size in ("own", "640x480")]
IDS = [f"{p.stem}-{size}" for p, size in CASES]


def _image(photo: Path, size: str) -> np.ndarray:
    image = load_rgb(photo)
    if size == "own":
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((640, 480), Image.BILINEAR))


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    if not MNET.is_file():
        pytest.skip(f"shared fixture absent: {MNET}")
    from faceport.converters.mxnet.family import FAMILY

    return RetinaFaceDetector(FAMILY.convert(MNET))


@pytest.fixture(scope="module")
def runs(detector: RetinaFaceDetector) -> dict[str, dict[str, Any]]:
    """Per case: the image shape, MXNet's and faceport's 9 outputs (one MXNet process)."""
    reason = why_mxnet_unavailable()
    if reason is not None:
        pytest.skip(f"MXNet reference unavailable: {reason}")
    results = {}
    with MXNetRunner(MNET, PARAMS) as mxnet:
        for case_id, (photo, size) in zip(IDS, CASES):
            image = _image(photo, size)
            tensor = detector.preprocess(image)
            results[case_id] = {
                "shape": image.shape[:2],
                "mxnet": mxnet.infer({"data": tensor}),
                "faceport": detector.forward(tensor),
            }
    return results


@pytest.mark.parametrize("case_id", IDS)
def test_outputs_match_mxnet(runs: dict[str, dict[str, Any]], case_id: str) -> None:
    run = runs[case_id]
    assert list(run["mxnet"]) == list(run["faceport"])  # same 9 names, same order
    results = [compare_arrays(k, v, run["faceport"][k], ABS_1E4) for k, v in run["mxnet"].items()]
    for result in results:
        log.info("%s %s: %s", case_id, run["shape"], result)
    assert len(results) == 9
    assert all(results), "\n".join(str(r) for r in results if not r)


@pytest.mark.parametrize("case_id", IDS)
def test_detections_match_mxnet(runs: dict[str, dict[str, Any]], case_id: str) -> None:
    run = runs[case_id]
    ref = decode_retinaface(run["mxnet"], run["shape"], threshold=0.5, nms=0.4)
    out = decode_retinaface(run["faceport"], run["shape"], threshold=0.5, nms=0.4)
    result = compare_detections(
        ref.boxes, ref.scores, out.boxes, out.scores,
        ref_landmarks=ref.landmarks, out_landmarks=out.landmarks, min_iou=0.99,
    )
    log.info("%s %s: %s", case_id, run["shape"], result)
    assert len(ref) > 0, "no face found by MXNet in a photo of faces"
    assert result, str(result)
    assert result.max_landmark_px is not None and result.max_landmark_px <= 0.5, str(result)


def test_detector_end_to_end_equals_decoded_outputs(
    runs: dict[str, dict[str, Any]], detector: RetinaFaceDetector
) -> None:
    """RetinaFaceDetector.__call__ is preprocess -> forward -> decode_retinaface."""
    case_id = IDS[0]
    photo, size = CASES[0]
    got = detector(_image(photo, size))
    run = runs[case_id]
    want = decode_retinaface(run["faceport"], run["shape"])
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.landmarks, want.landmarks)
