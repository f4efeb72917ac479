"""insightface's RetinaFace ``detect`` pipeline around an MXNet executor (the baseline users
run today), for the side-by-side benchmark. Runs inside ``.venv-mxnet`` (numpy < 1.24).

The steps follow insightface ``detection/retinaface/retinaface.py`` (``net3``: strides
32/16/8, two anchors per cell, scales (32, 16) / (8, 4) / (2, 1), base size 16, ratio 1)
for one scale of 1.0, in its order of work:

* pre-processing: a float32 (1, 3, H, W) tensor filled channel by channel from the image
  (``(pixel / scale - mean) / std``, RGB; mean 0, std 1, scale 1 for net3);
* forward;
* per stride: the anchor plane for the whole feature map, every box and landmark decoded,
  boxes clipped, *then* the scores thresholded (``scores >= threshold``);
* all strides stacked, ordered by score and suppressed by greedy NMS (IoU over the
  inclusive-pixel areas, ``>= nms`` removes, as insightface's Cython ``cpu_nms``).

It is written here from those semantics (no insightface code), so that the timing is of the
same work in MXNet's environment; faceport's own decoder is checked against MXNet's raw
outputs in the test suite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STRIDES = ((32, (32.0, 16.0)), (16, (8.0, 4.0)), (8, (2.0, 1.0)))


def _base_anchors(scales: tuple[float, ...], base: int = 16) -> np.ndarray:
    centre = (base - 1) / 2.0
    rows = []
    for scale in scales:
        half = (base * scale - 1) / 2.0
        rows.append([centre - half, centre - half, centre + half, centre + half])
    return np.array(rows, dtype=np.float32)


def _anchor_plane(height: int, width: int, stride: int, base: np.ndarray) -> np.ndarray:
    sx, sy = np.meshgrid(np.arange(width) * stride, np.arange(height) * stride)
    shifts = np.stack((sx, sy, sx, sy), axis=-1).astype(np.float32)
    return (shifts[:, :, None, :] + base[None, None]).reshape(-1, 4)


def _decode(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    w = anchors[:, 2] - anchors[:, 0] + 1.0
    h = anchors[:, 3] - anchors[:, 1] + 1.0
    cx = anchors[:, 0] + 0.5 * (w - 1.0)
    cy = anchors[:, 1] + 0.5 * (h - 1.0)
    px = deltas[:, 0] * w + cx
    py = deltas[:, 1] * h + cy
    pw = np.exp(deltas[:, 2]) * w
    ph = np.exp(deltas[:, 3]) * h
    return np.stack((px - 0.5 * (pw - 1.0), py - 0.5 * (ph - 1.0),
                     px + 0.5 * (pw - 1.0), py + 0.5 * (ph - 1.0)), axis=1)


def _landmarks(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    w = anchors[:, 2] - anchors[:, 0] + 1.0
    h = anchors[:, 3] - anchors[:, 1] + 1.0
    cx = anchors[:, 0] + 0.5 * (w - 1.0)
    cy = anchors[:, 1] + 0.5 * (h - 1.0)
    out = deltas.copy()
    out[:, :, 0] = deltas[:, :, 0] * w[:, None] + cx[:, None]
    out[:, :, 1] = deltas[:, :, 1] * h[:, None] + cy[:, None]
    return out


def _nms(dets: np.ndarray, threshold: float) -> list[int]:
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(~(iou >= threshold))[0] + 1]  # Cython cpu_nms: >= suppresses
    return keep


def preprocess(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 (1, 3, H, W), channel by channel."""
    tensor = np.zeros((1, 3, image.shape[0], image.shape[1]), dtype=np.float32)
    for i in range(3):
        tensor[0, i, :, :] = (image[:, :, i] / 1.0 - 0.0) / 1.0
    return tensor


def postprocess(outputs: list[Any], height: int, width: int, threshold: float,
                nms: float) -> dict[str, np.ndarray]:
    """Decode the 9 outputs (cls, bbox, landmark per stride, in that order)."""
    boxes_all, scores_all, marks_all = [], [], []
    for level, (stride, scales) in enumerate(STRIDES):
        cls, bbox, marks = (outputs[3 * level + k].asnumpy() for k in range(3))
        a = len(scales)
        scores = cls[:, a:, :, :].transpose((0, 2, 3, 1)).reshape((-1, 1))
        fh, fw = bbox.shape[2], bbox.shape[3]
        anchors = _anchor_plane(fh, fw, stride, _base_anchors(scales))
        deltas = bbox.transpose((0, 2, 3, 1)).reshape((-1, 4))
        boxes = _decode(anchors, deltas)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
        keep = np.where(scores.ravel() >= threshold)[0]
        boxes_all.append(boxes[keep])
        scores_all.append(scores[keep])
        mdelta = marks.transpose((0, 2, 3, 1)).reshape((-1, 5, 2))
        marks_all.append(_landmarks(anchors, mdelta)[keep])
    boxes = np.vstack(boxes_all)
    scores = np.vstack(scores_all)
    marks = np.vstack(marks_all)
    order = scores.ravel().argsort()[::-1]
    dets = np.hstack((boxes, scores)).astype(np.float32)[order]
    marks = marks[order]
    final = _nms(dets, nms) if len(dets) else []
    return {"boxes": dets[final, :4], "scores": dets[final, 4], "landmarks": marks[final]}
