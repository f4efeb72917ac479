"""S3FD anchors/decode and whole-image detections vs the independent reference pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from faceport.detect.base import DetectOptions
from faceport.detect.s3fd import anchors, decode, postprocess, preprocess
from faceport.errors import FaceportError
from faceport.kinds import detector as kind_detector
from faceport.verify.compare import compare_detections
from faceport.verify.references.s3fd_model import reference_postprocess
from tests.reference import s3fd_session


def test_anchors_layout() -> None:
    a = anchors(2, 3, 8)
    assert a.shape == (6, 4)
    # row-major: index = y * W + x, centres at 4 + 8 * index, side 32
    np.testing.assert_array_equal(a[4], [12.0, 12.0, 32.0, 32.0])
    np.testing.assert_array_equal(a[2], [20.0, 4.0, 32.0, 32.0])


def test_decode_with_variances() -> None:
    prior = np.array([[100.0, 50.0, 16.0, 16.0]])
    loc = np.array([[1.0, -2.0, 0.0, np.log(2.0) / 0.2]])
    # centre moves by loc * 0.1 * side; width exp(0 * 0.2) = 1x, height exp(ln 2) = 2x
    np.testing.assert_allclose(decode(loc, prior), [[101.6 - 8, 46.8 - 16, 101.6 + 8, 46.8 + 16]])


def test_postprocess_thresholds() -> None:
    """A hand-made output set: one confident anchor at level 1, one weak one."""
    outs = []
    for level in range(6):
        h = w = max(1, 8 >> level)
        conf = np.zeros((1, 2, h, w), np.float32)
        conf[0, 0] = 5.0  # background everywhere
        outs += [conf, np.zeros((1, 4, h, w), np.float32)]
    outs[2][0, :, 1, 2] = [0.0, 3.0]  # level 1 (stride 8): p = sigmoid(3) = 0.953
    outs[2][0, :, 3, 3] = [0.0, -1.0]  # p = 0.269: a candidate, not kept
    dets = postprocess(outs)
    assert len(dets) == 1
    np.testing.assert_allclose(dets.boxes[0], [20 - 16, 12 - 16, 20 + 16, 12 + 16])
    assert abs(dets.scores[0] - 1 / (1 + np.exp(-3.0))) < 1e-6
    assert len(postprocess(outs, score_threshold=0.2)) == 2
    assert len(postprocess(outs, min_level=2)) == 0


def test_preprocess_bgr_minus_mean() -> None:
    image = np.zeros((32, 40, 3), np.uint8)
    image[..., 0] = 200  # red
    x = preprocess(image)
    assert x.shape == (1, 3, 32, 40)
    np.testing.assert_array_equal(x[0, :, 0, 0], [0 - 104, 0 - 117, 200 - 123])
    with pytest.raises(FaceportError, match="too small"):
        preprocess(np.zeros((31, 64, 3), np.uint8))


@pytest.mark.parametrize("index", range(len(s3fd_session.PHOTOS)))
def test_detections_match_reference_pipeline(index: int) -> None:
    run = s3fd_session.forwards(index)
    if run is None:
        pytest.skip(f"shared photo {s3fd_session.PHOTOS[index][0]} absent")
    _, ours, theirs = run
    ref = reference_postprocess(theirs)
    out = postprocess(ours)
    result = compare_detections(ref[:, :4], ref[:, 4], out.boxes, out.scores,
                                min_iou=0.999, max_dscore=1e-6)
    assert result, str(result)
    assert len(out) >= 3  # the fixture weights do produce detections to compare
    assert np.all(np.diff(out.scores) <= 0) and np.all(out.scores >= 0.5)


def test_family_detector_end_to_end() -> None:
    """The Family interface: detector(graph)(RGB image) equals the reference detect pipeline
    (on the group photo shrunk to 480x240, to keep the extra forwards cheap)."""
    from PIL import Image

    from faceport.verify.references.s3fd_model import reference_detect

    image = s3fd_session.photo(*s3fd_session.PHOTOS[0])
    if image is None:
        pytest.skip("shared photo absent")
    small = np.asarray(Image.fromarray(image).resize((480, 240), Image.BILINEAR))
    detector = kind_detector(s3fd_session.converted(s3fd_session.CANONICAL))
    assert detector is not None
    dets = detector(small)
    ref = reference_detect(s3fd_session.reference(), small)
    result = compare_detections(ref[:, :4], ref[:, 4], dets.boxes, dets.scores,
                                min_iou=0.999, max_dscore=1e-6)
    assert result and len(dets) >= 1, str(result)
    with pytest.raises(FaceportError, match="does not take option 'iou'"):
        detector(small, DetectOptions(extras={"iou": 0.5}))
