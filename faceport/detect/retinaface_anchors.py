"""RetinaFace anchors and box/landmark decoding, as insightface's RetinaFace computes them.

Semantics (insightface ``detection/retinaface``: ``rcnn/processing/generate_anchor.py``,
``bbox_transform.py`` and ``RetinaFace.bbox_pred``/``landmark_pred``), which inherit
py-faster-rcnn's "inclusive pixel" convention, width = x2 - x1 + 1:

* base anchors per stride: the reference window ``(0, 0, base-1, base-1)`` is turned into one
  window per aspect ratio (``_ratio_enum``: ``ws = round(sqrt(w*h / ratio))``, ``hs =
  round(ws * ratio)``, numpy's round-half-to-even, same centre), then each of those is scaled
  by every scale (``_scale_enum``: ``w * scale``, same centre); corners are ``ctr -+ 0.5 *
  (size - 1)``. Ratios vary slowest, scales fastest.
* ``anchors_plane``: the base anchors shifted by ``(x * stride, y * stride)`` for every
  feature-map cell, ordered (row, column, anchor).
* boxes: ``ctr + d * size`` for the centre, ``exp(d) * size`` for the size; landmarks:
  ``ctr + d * size`` per point (no exp), both relative to the anchor in float32.
* ``clip_boxes``: x into ``[0, width - 1]``, y into ``[0, height - 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class AnchorConfig:
    """One FPN level: ``stride`` and insightface's SCALES / BASE_SIZE / RATIOS."""

    stride: int
    scales: tuple[float, ...]
    base_size: int = 16
    ratios: tuple[float, ...] = (1.0,)

    @property
    def num_anchors(self) -> int:
        return len(self.scales) * len(self.ratios)


#: insightface's ``net3`` setting (mnet.25, R50): strides 32/16/8, 2 anchors per cell.
NET3 = (
    AnchorConfig(32, (32.0, 16.0)),
    AnchorConfig(16, (8.0, 4.0)),
    AnchorConfig(8, (2.0, 1.0)),
)


def _whctrs(anchor: np.ndarray) -> tuple[float, float, float, float]:
    w = anchor[2] - anchor[0] + 1
    h = anchor[3] - anchor[1] + 1
    return float(w), float(h), float(anchor[0] + 0.5 * (w - 1)), float(anchor[1] + 0.5 * (h - 1))


def _make_anchors(ws: np.ndarray, hs: np.ndarray, x_ctr: float, y_ctr: float) -> np.ndarray:
    ws = ws.reshape(-1, 1)
    hs = hs.reshape(-1, 1)
    half_w, half_h = 0.5 * (ws - 1), 0.5 * (hs - 1)
    return np.hstack((x_ctr - half_w, y_ctr - half_h, x_ctr + half_w, y_ctr + half_h))


@lru_cache(maxsize=64)
def base_anchors(cfg: AnchorConfig) -> np.ndarray:
    """float32 (A, 4) anchors of one cell at the origin (py-faster-rcnn generate_anchors);
    cached per configuration, read-only."""
    reference = np.array([0.0, 0.0, cfg.base_size - 1.0, cfg.base_size - 1.0])
    w, h, x_ctr, y_ctr = _whctrs(reference)
    ratios = np.asarray(cfg.ratios, dtype=np.float64)
    ws = np.round(np.sqrt(w * h / ratios))
    hs = np.round(ws * ratios)
    per_ratio = _make_anchors(ws, hs, x_ctr, y_ctr)
    scales = np.asarray(cfg.scales, dtype=np.float64)
    rows = []
    for anchor in per_ratio:
        aw, ah, ax, ay = _whctrs(anchor)
        rows.append(_make_anchors(aw * scales, ah * scales, ax, ay))
    anchors = np.vstack(rows).astype(np.float32)
    anchors.setflags(write=False)
    return anchors


def anchors_plane(height: int, width: int, stride: int, base: np.ndarray) -> np.ndarray:
    """float32 (height * width * A, 4): ``base`` shifted to every cell, (row, col, anchor)."""
    shift_x = np.arange(width, dtype=np.float32) * stride
    shift_y = np.arange(height, dtype=np.float32) * stride
    sx, sy = np.meshgrid(shift_x, shift_y)
    shifts = np.stack((sx, sy, sx, sy), axis=-1)  # (H, W, 4)
    plane = shifts[:, :, None, :] + base[None, None, :, :].astype(np.float32)
    return plane.reshape(-1, 4)


def anchors_at(index: np.ndarray, width: int, stride: int, base: np.ndarray) -> np.ndarray:
    """Rows ``index`` of ``anchors_plane(height, width, stride, base)`` (same float32 sums),
    computed for those rows only."""
    cell, anchor = np.divmod(np.asarray(index, dtype=np.int64), base.shape[0])
    row, col = np.divmod(cell, width)
    sx = col.astype(np.float32) * stride
    sy = row.astype(np.float32) * stride
    shifts = np.stack((sx, sy, sx, sy), axis=-1)
    return shifts + base.astype(np.float32)[anchor]


def _centres(anchors: np.ndarray) -> tuple[np.ndarray, ...]:
    widths = anchors[:, 2] - anchors[:, 0] + np.float32(1.0)
    heights = anchors[:, 3] - anchors[:, 1] + np.float32(1.0)
    ctr_x = anchors[:, 0] + np.float32(0.5) * (widths - np.float32(1.0))
    ctr_y = anchors[:, 1] + np.float32(0.5) * (heights - np.float32(1.0))
    return widths, heights, ctr_x, ctr_y


def decode_boxes(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """(N, 4) boxes from float32 anchors (N, 4) and deltas (N, 4) (dx, dy, dw, dh)."""
    if anchors.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.float64)
    widths, heights, ctr_x, ctr_y = _centres(anchors.astype(np.float32, copy=False))
    d = deltas.astype(np.float32, copy=False)
    pred_x = d[:, 0] * widths + ctr_x
    pred_y = d[:, 1] * heights + ctr_y
    pred_w = np.exp(d[:, 2]) * widths
    pred_h = np.exp(d[:, 3]) * heights
    half = np.float32(0.5)
    one = np.float32(1.0)
    boxes = np.stack(
        (
            pred_x - half * (pred_w - one),
            pred_y - half * (pred_h - one),
            pred_x + half * (pred_w - one),
            pred_y + half * (pred_h - one),
        ),
        axis=1,
    )
    return boxes.astype(np.float64)


def decode_landmarks(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """float32 (N, K, 2) points from anchors (N, 4) and deltas (N, K, 2)."""
    if anchors.shape[0] == 0:
        return np.zeros((0, *deltas.shape[1:]), dtype=np.float32)
    widths, heights, ctr_x, ctr_y = _centres(anchors.astype(np.float32, copy=False))
    d = deltas.astype(np.float32, copy=False)
    xs = d[:, :, 0] * widths[:, None] + ctr_x[:, None]
    ys = d[:, :, 1] * heights[:, None] + ctr_y[:, None]
    return np.stack((xs, ys), axis=-1)


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes clipped to the image: x in [0, width - 1], y in [0, height - 1]."""
    out = boxes.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width - 1)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height - 1)
    return out


def anchors_for(
    configs: Sequence[AnchorConfig], shapes: Mapping[int, tuple[int, int]]
) -> dict[int, np.ndarray]:
    """Anchors of every level, keyed by stride, for feature maps of ``shapes[stride] = (h, w)``."""
    return {
        cfg.stride: anchors_plane(*shapes[cfg.stride], cfg.stride, base_anchors(cfg))
        for cfg in configs
    }
