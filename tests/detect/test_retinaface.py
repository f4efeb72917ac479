"""RetinaFace anchors, decoding and the detector (no MXNet needed).

Expected anchors are worked out by hand from py-faster-rcnn's definition (reference window
(0, 0, 15, 15), ratio enumeration with rounding, then scale enumeration about the centre).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceport.detect.retinaface import (
    decode_retinaface,
    detect_multiscale,
    merge_and_suppress,
    resize_linear,
    retinaface_proposals,
)
from faceport.detect.retinaface_anchors import (
    NET3,
    AnchorConfig,
    anchors_plane,
    base_anchors,
    clip_boxes,
    decode_boxes,
    decode_landmarks,
)
from faceport.verify.compare import box_iou


def test_net3_base_anchors() -> None:
    # base 16 -> centre 7.5; a scale s gives a 16s-wide square: 7.5 -+ (16s - 1) / 2
    want = {
        32: [[-248, -248, 263, 263], [-120, -120, 135, 135]],
        16: [[-56, -56, 71, 71], [-24, -24, 39, 39]],
        8: [[-8, -8, 23, 23], [0, 0, 15, 15]],
    }
    for cfg in NET3:
        np.testing.assert_array_equal(base_anchors(cfg), np.array(want[cfg.stride], np.float32))


def test_ratio_enumeration_rounds_like_py_faster_rcnn() -> None:
    """Ratios 0.5/1/2 x scales 8/16/32: ws = round(sqrt(256 / r)) (23, 16, 11), hs = round(ws * r)
    (12, 16, 22), ratios vary slowest."""
    got = base_anchors(AnchorConfig(16, (8.0, 16.0, 32.0), 16, (0.5, 1.0, 2.0)))
    want = [
        [-84, -40, 99, 55], [-176, -88, 191, 103], [-360, -184, 375, 199],
        [-56, -56, 71, 71], [-120, -120, 135, 135], [-248, -248, 263, 263],
        [-36, -80, 51, 95], [-80, -168, 95, 183], [-168, -344, 183, 359],
    ]
    np.testing.assert_array_equal(got, np.array(want, np.float32))


def test_anchors_plane_order_is_row_col_anchor() -> None:
    base = base_anchors(NET3[2])
    plane = anchors_plane(2, 3, 8, base)
    assert plane.shape == (2 * 3 * 2, 4)
    # row 1, column 2, anchor 1 -> index (1 * 3 + 2) * 2 + 1
    np.testing.assert_array_equal(plane[11], base[1] + np.array([16, 8, 16, 8], np.float32))


def test_zero_deltas_give_the_anchor_and_its_centre() -> None:
    anchors = np.array([[0, 0, 15, 15], [-8, -8, 23, 23]], np.float32)
    np.testing.assert_allclose(decode_boxes(anchors, np.zeros((2, 4), np.float32)), anchors)
    marks = decode_landmarks(anchors, np.zeros((2, 5, 2), np.float32))
    np.testing.assert_allclose(marks, np.full((2, 5, 2), 7.5))


def test_deltas_scale_by_inclusive_width() -> None:
    anchors = np.array([[0, 0, 15, 15]], np.float32)  # w = h = 16, centre 7.5
    box = decode_boxes(anchors, np.array([[0.5, -0.25, np.log(2), 0.0]], np.float32))
    # centre (15.5, 3.5), w 32, h 16 -> x1 = 15.5 - 15.5, x2 = 15.5 + 15.5
    np.testing.assert_allclose(box, [[0.0, -4.0, 31.0, 11.0]], atol=1e-5)
    marks = decode_landmarks(anchors, np.full((1, 5, 2), 1.0, np.float32))
    np.testing.assert_allclose(marks, np.full((1, 5, 2), 23.5))


def test_clip_boxes_to_last_pixel() -> None:
    boxes = np.array([[-5.0, -1.0, 700.0, 300.0]])
    np.testing.assert_array_equal(clip_boxes(boxes, 240, 320), [[0.0, 0.0, 319.0, 239.0]])


def _outputs(h: int, w: int, hits: dict[int, list[tuple[int, int, int, float]]]) -> dict:
    """Synthetic 9 outputs for an h x w input: face score p at (row, col, anchor) per stride."""
    out = {}
    for cfg in NET3:
        fh, fw = -(-h // cfg.stride), -(-w // cfg.stride)
        cls = np.zeros((1, 4, fh, fw), np.float32)
        cls[:, :2] = 1.0
        for row, col, a, p in hits.get(cfg.stride, []):
            cls[0, 2 + a, row, col] = p
            cls[0, a, row, col] = 1 - p
        out[f"face_rpn_cls_prob_reshape_stride{cfg.stride}"] = cls
        out[f"face_rpn_bbox_pred_stride{cfg.stride}"] = np.zeros((1, 8, fh, fw), np.float32)
        out[f"face_rpn_landmark_pred_stride{cfg.stride}"] = np.zeros((1, 20, fh, fw), np.float32)
    return out


def test_decode_picks_scored_anchor_and_thresholds() -> None:
    outputs = _outputs(64, 96, {8: [(3, 5, 1, 0.9), (7, 11, 1, 0.4)]})
    det = decode_retinaface(outputs, (64, 96), threshold=0.5, nms=0.4)
    assert len(det) == 1
    # stride 8, anchor 1 = (0, 0, 15, 15) shifted by (5 * 8, 3 * 8)
    np.testing.assert_allclose(det.boxes, [[40, 24, 55, 39]])
    np.testing.assert_allclose(det.scores, [0.9], rtol=1e-6)
    assert det.landmarks is not None
    np.testing.assert_allclose(det.landmarks[0], np.full((5, 2), [47.5, 31.5]))
    assert len(decode_retinaface(outputs, (64, 96), threshold=0.4)) == 2


def test_nms_suppresses_across_strides_inclusive_iou() -> None:
    # stride 8 anchor 0 at (2, 2): (-8, -8, 23, 23) + 16 = (8, 8, 39, 39); stride 16 anchor 1
    # at (0, 0): (-24, -24, 39, 39) clipped to (0, 0, 39, 39). Inclusive IoU 32^2 / 40^2 = 0.64
    # > 0.4: the lower score goes. At (1, 1) the stride-16 box is (0, 0, 55, 55): IoU
    # 32^2 / 56^2 = 0.33, both stay.
    outputs = _outputs(64, 64, {8: [(2, 2, 0, 0.8)], 16: [(0, 0, 1, 0.95)]})
    det = decode_retinaface(outputs, (64, 64), threshold=0.5, nms=0.4)
    assert len(det) == 1 and det.scores[0] == pytest.approx(0.95)
    np.testing.assert_allclose(det.boxes, [[0, 0, 39, 39]])
    assert len(decode_retinaface(outputs, (64, 64), threshold=0.5, nms=0.0)) == 2  # NMS off
    apart = _outputs(64, 64, {8: [(2, 2, 0, 0.8)], 16: [(1, 1, 1, 0.95)]})
    assert len(decode_retinaface(apart, (64, 64), threshold=0.5, nms=0.4)) == 2


def test_outputs_by_position_when_names_differ() -> None:
    outputs = _outputs(64, 96, {8: [(3, 5, 1, 0.9)]})
    renamed = {f"out{i}": v for i, v in enumerate(outputs.values())}
    a = decode_retinaface(outputs, (64, 96))
    b = decode_retinaface(renamed, (64, 96))
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_im_scale_divides_coordinates() -> None:
    outputs = _outputs(64, 96, {8: [(3, 5, 1, 0.9)]})
    boxes, _, marks = retinaface_proposals(outputs, (64, 96), 0.5, im_scale=2.0)
    np.testing.assert_allclose(boxes, [[20, 12, 27.5, 19.5]])
    assert marks is not None
    det = merge_and_suppress([(boxes, np.array([0.9], np.float32), marks)], 0.4)
    assert len(det) == 1


def test_resize_linear_geometry() -> None:
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert resize_linear(image, 0.5).shape == (2, 3, 3)
    assert resize_linear(image, 1.5).shape == (6, 9, 3)
    # halving averages 2x2 blocks (source coordinate 2d + 0.5)
    block = image[:2, :2].astype(float).mean(axis=(0, 1))
    np.testing.assert_allclose(resize_linear(image, 0.5)[0, 0], np.rint(block), atol=1)


def _ground_truth(xml: Path) -> dict[str, np.ndarray]:
    from lxml import etree

    boxes: dict[str, np.ndarray] = {}
    for image in etree.parse(str(xml)).getroot().iter("image"):
        rows = [
            [int(b.get("left")), int(b.get("top")),
             int(b.get("left")) + int(b.get("width")), int(b.get("top")) + int(b.get("height"))]
            for b in image.iter("box")
        ]
        boxes[image.get("file")] = np.array(rows, float)
    return boxes


def test_mnet25_detector_finds_the_annotated_faces(shared_dir: Path) -> None:
    """Real weights, real photos: every face dlib's testing.xml annotates is found (IoU > 0.4
    with a detection: the annotation boxes are tighter squares than RetinaFace's)."""
    from faceport.converters.mxnet.family import FAMILY
    from faceport.detect.retinaface import RetinaFaceDetector
    from faceport.imageio import load_rgb

    mnet = shared_dir / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
    folder = shared_dir / "images" / "dlib_examples_faces"
    detector = RetinaFaceDetector(FAMILY.convert(mnet))
    found = total = 0
    for name, truth in _ground_truth(folder / "testing.xml").items():
        det = detector(load_rgb(folder / name))
        assert det.landmarks is not None and det.landmarks.shape == (len(det), 5, 2)
        best = box_iou(truth, det.boxes).max(axis=1) if len(det) else np.zeros(len(truth))
        found += int((best > 0.4).sum())
        total += len(truth)
    assert total == 25 and found == total, f"found {found} of {total} annotated faces"


def _decode_all_then_keep(outputs: dict[str, np.ndarray], height: int, width: int,
                          threshold: float) -> tuple[np.ndarray, ...]:
    """insightface's order of work (anchors for every cell, decode all, then keep)."""
    boxes, scores, marks = [], [], []
    for cfg in NET3:
        cls, bbox, lmk = (outputs[f"{k}_stride{cfg.stride}"]
                          for k in ("cls_prob_reshape", "bbox_pred", "landmark_pred"))
        a = cfg.num_anchors
        anchors = anchors_plane(bbox.shape[2], bbox.shape[3], cfg.stride, base_anchors(cfg))
        s = cls[:, a:].transpose(0, 2, 3, 1).reshape(-1)
        d = bbox.transpose(0, 2, 3, 1).reshape(-1, 4)
        m = lmk.transpose(0, 2, 3, 1).reshape(-1, 5, 2)
        keep = np.where(s >= threshold)[0]
        boxes.append(clip_boxes(decode_boxes(anchors, d), height, width)[keep])
        scores.append(s[keep])
        marks.append(decode_landmarks(anchors, m)[keep])
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(marks)


def test_threshold_first_decoding_equals_decode_all_then_keep() -> None:
    rng = np.random.default_rng(3)
    height, width = 100, 140
    outputs = {}
    for cfg in NET3:
        fh, fw = -(-height // cfg.stride), -(-width // cfg.stride)
        outputs[f"cls_prob_reshape_stride{cfg.stride}"] = rng.uniform(0, 1, (1, 4, fh, fw))
        outputs[f"bbox_pred_stride{cfg.stride}"] = rng.normal(0, 0.3, (1, 8, fh, fw))
        outputs[f"landmark_pred_stride{cfg.stride}"] = rng.normal(0, 1, (1, 20, fh, fw))
    outputs = {k: v.astype(np.float32) for k, v in outputs.items()}
    for threshold in (0.0, 0.5, 0.97, 1.1):
        got = retinaface_proposals(outputs, (height, width), threshold)
        want = _decode_all_then_keep(outputs, height, width, threshold)
        assert got[2] is not None
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


def test_two_stride_retinaface_detects_and_exports(shared_dir: Path, tmp_path: Path) -> None:
    """A RetinaFace with strides 32 and 16 only: detect decodes those levels with insightface's
    net3 anchors (it used to fail with "expected >= 6 outputs"), and its whole-detector ONNX
    gives the same boxes."""
    import dataclasses

    from faceport.converters import convert
    from faceport.detect.base import DetectOptions
    from faceport.detect.retinaface import configs_for
    from faceport.exporters.detector import export_detector
    from faceport.imageio import load_rgb
    from faceport.kinds import detector, with_info
    from faceport.ort_session import open_session

    mnet = shared_dir / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
    full = convert(mnet)
    heads = tuple(o for o in full.outputs if not o.endswith("stride8"))
    two = with_info(dataclasses.replace(full, outputs=heads, info=None))
    assert two.info is not None and two.info.head is not None
    assert two.info.head.options["strides"] == [32, 16]
    assert [c.stride for c in configs_for(two)] == [32, 16]
    image = load_rgb(shared_dir / "images" / "dlib_examples_faces" / "2008_002470.jpg")
    with detector(two) as det, detector(full) as ref:  # type: ignore[union-attr]
        found = det(image, DetectOptions(score_threshold=0.5))
        wanted = detect_multiscale(
            lambda im: ref.forward(ref.preprocess(im)), image, 0.5, 0.4, None,
            configs=configs_for(two),
        )  # fmt: skip
    assert len(found) > 0
    np.testing.assert_array_equal(found.boxes, wanted.boxes)
    path = export_detector(two, tmp_path / "two.onnx").path
    session = open_session(path)
    assert session.get_modelmeta().custom_metadata_map["faceport.image_color_order"] == "RGB"
    boxes, scores, _ = session.run(None, {
        "image": np.ascontiguousarray(image),
        "score_threshold": np.array(0.5, np.float32), "iou_threshold": np.array(0.4, np.float32),
    })  # fmt: skip
    assert len(scores) == len(found)
    np.testing.assert_allclose(boxes, found.boxes, atol=0.05)
