"""Greedy non-maximum suppression, vectorised.

Both insightface's ``cpu_nms`` and SFD_pytorch's ``nms`` measure areas in the
"inclusive pixel" convention, ``(x2 - x1 + 1) * (y2 - y1 + 1)``; pass ``pixel_offset=1`` to
reproduce them, ``0`` for continuous coordinates. dlib's NMS is different (IoU *and*
percent-covered tests against every kept box) and lives with the MMOD detector.
"""

from __future__ import annotations

import numpy as np


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, *, pixel_offset: float = 0.0,
    suppress_equal: bool = False,
) -> np.ndarray:
    """Indices of the kept boxes, highest score first.

    ``boxes``: (N, 4) x1, y1, x2, y2; ``scores``: (N,). A box is suppressed when its IoU
    with an already kept, higher-scoring box is *greater than* ``iou_threshold``.
    Ties in score keep the earlier index (stable sort), as the references do.
    ``suppress_equal``: an IoU *equal* to the threshold suppresses too (py-faster-rcnn's
    Cython ``cpu_nms``, ``ovr >= thresh``, which insightface's RetinaFace uses).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.shape[0] == 0:
        return np.zeros((0,), dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + pixel_offset) * (y2 - y1 + pixel_offset)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        off = pixel_offset
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + off)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + off)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        order = rest[iou < iou_threshold] if suppress_equal else rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
