"""Comparison values: numbers, verdicts and readable text."""

from __future__ import annotations

import numpy as np

from faceport.tolerance import Tolerance, tolerance_for
from faceport.verify.compare import (
    box_iou,
    compare_arrays,
    compare_descriptors,
    compare_detections,
    compare_outputs,
)


def test_compare_arrays_reports_worst_element() -> None:
    ref = np.linspace(-10, 10, 24, dtype=np.float32).reshape(2, 3, 4)
    out = ref.copy()
    out[1, 2, 3] += 0.5
    result = compare_arrays("heads", ref, out)
    assert not result
    assert result.worst_index == (1, 2, 3) and result.mismatches == 1 and result.total == 24
    assert abs(result.max_abs - 0.5) < 1e-6 and abs(result.rel_to_scale - 0.05) < 1e-6
    assert "FAIL heads [2, 3, 4]" in str(result) and "worst at [1, 2, 3]" in str(result)
    assert compare_arrays("heads", ref, ref + 1e-6)


def test_compare_arrays_scale_relative_tolerance_and_shapes() -> None:
    ref = np.array([1000.0, 0.0])
    assert compare_arrays("x", ref, ref + np.array([0.05, 0.05]))  # 0.05 <= 1e-4 * 1000
    assert not compare_arrays("x", ref, ref + np.array([0.0, 0.2]))
    strict = Tolerance(1e-4, 0.0, relative_to_scale=False)
    assert not compare_arrays("x", ref, ref + np.array([0.05, 0.0]), strict)
    mismatch = compare_arrays("x", ref, np.zeros(3))
    assert not mismatch and "shape [3] != reference [2]" in str(mismatch)
    nan = compare_arrays("x", ref, np.array([np.nan, 0.0]))
    assert not nan and nan.max_abs == np.inf


def test_compare_outputs_lists_missing() -> None:
    a = {"o1": np.ones(3), "o2": np.zeros(2)}
    result = compare_outputs("mxnet", a, "torch-cpu", {"o1": np.ones(3)})
    assert not result and result.missing == ("o2",) and "missing from torch-cpu" in str(result)


def test_tolerance_table_by_dtype_and_device() -> None:
    assert tolerance_for("float32", "cuda:0") == tolerance_for("float32", "cuda")
    assert tolerance_for("float16", "cuda").atol > tolerance_for("float32", "cuda").atol


def test_box_iou_and_detection_matching() -> None:
    ref = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    assert box_iou(ref, ref).diagonal().tolist() == [1.0, 1.0]
    assert abs(box_iou(ref[:1], np.array([[5, 0, 15, 10]]))[0, 0] - 1 / 3) < 1e-12
    out = ref[::-1] + 0.01
    result = compare_detections(ref, [0.9, 0.8], out, [0.8, 0.9])
    assert result and result.matched == 2 and result.min_iou > 0.99
    missed = compare_detections(ref, [0.9, 0.8], out[:1], [0.8])
    assert not missed and missed.recall == 0.5 and missed.precision == 1.0
    lm = compare_detections(
        ref,
        [1, 1],
        ref,
        [1, 1],
        ref_landmarks=np.zeros((2, 5, 2)),
        out_landmarks=np.full((2, 5, 2), 0.3),
    )
    assert abs((lm.max_landmark_px or 0) - np.hypot(0.3, 0.3)) < 1e-12
    assert "landmark err" in str(lm)


def test_descriptor_comparison() -> None:
    v = np.linspace(-1, 1, 128)
    assert compare_descriptors(v, v + 1e-6)
    bad = compare_descriptors(v, -v)
    assert not bad and bad.cosine < -0.99 and "FAIL descriptor" in str(bad)
