"""Greedy NMS against a plain-loop reference (the insightface/SFD algorithm)."""

from __future__ import annotations

import numpy as np
import pytest

from faceport.detect.nms import nms


def loop_nms(boxes: np.ndarray, scores: np.ndarray, thresh: float, off: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep: list[int] = []
    suppressed = [False] * len(scores)
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1 + off) * max(0.0, yy2 - yy1 + off)
            area = lambda b: (b[2] - b[0] + off) * (b[3] - b[1] + off)  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > thresh:
                suppressed[j] = True
    return keep


@pytest.mark.parametrize("off", [0.0, 1.0])
@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_loop_reference(seed: int, off: float) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (60, 2))
    wh = rng.uniform(5, 40, (60, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.permutation(60) / 60.0
    assert nms(boxes, scores, 0.4, pixel_offset=off).tolist() == loop_nms(boxes, scores, 0.4, off)


def test_nms_empty() -> None:
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.3).shape == (0,)
