"""dlib ``loss_mmod_``: output tensor -> detections, exactly as ``to_label`` does it.

Semantics (dlib ``dnn/loss.h``, ``dnn/visitors.h``, ``geometry/``, ``box_overlap_testing.h``):

* ``tensor_to_dets`` scans channel k (one per detector window), row r, column c and keeps
  every score ``> adjust_threshold``. The point (c, r) is mapped to the input tensor by
  every layer's ``map_output_to_input`` from the output down (``con``/pooling:
  ``p * stride - padding + kernel / 2`` with integer ``kernel / 2``; ``cont``:
  ``(p + padding - kernel / 2) / stride``; ``upsample``: ``p / scale``; others: identity).
* The window is ``centered_drect(p, w, h) = [p - (w-1)/2, p + (w-1)/2]``; it is mapped to
  the image by ``tiled_pyramid_to_image``: the level is ``nearest_rect`` of its centre
  (rounded ``floor(v + 0.5)``; first containing level, else nearest by distance), then
  ``point_up`` of both corners once per level. The result is rounded with ``lround``
  (``intermediate_detection`` stores a ``rectangle``).
* Detections are sorted by descending confidence, then greedy NMS keeps a box unless
  ``test_box_overlap`` says it overlaps a kept one: ``inner / bbox(a + b) > iou_thresh`` or
  ``inner / area(a) > percent_covered`` or ``inner / area(b) > percent_covered``, with
  inclusive integer areas (``(right - left + 1) * (bottom - top + 1)``). Note dlib's
  "union" here is the area of the bounding box of both rectangles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceport.detect.mmod_pyramid import TiledPyramid, round_half_away
from faceport.errors import FaceportError
from faceport.ir import Graph

_IDENTITY_OPS = frozenset(
    {
        "relu", "prelu", "leaky_relu", "sig", "htan", "elu", "gelu", "mish", "clipped_relu",
        "smelu", "silu", "softmax", "softmax_all", "affine_con", "affine_fc", "affine",
        "bn_con", "bn_fc", "add_prev", "mult_prev", "scale_prev", "concat", "dropout",
        "multiply", "tag", "skip", "l2normalize", "layer_norm", "rms_norm", "extract",
    }
)
_STRIDED_OPS = frozenset({"con", "max_pool", "avg_pool"})


@dataclass(frozen=True)
class DetectorWindow:
    width: int
    height: int
    label: str = ""


@dataclass(frozen=True)
class MMODOptions:
    """The parts of dlib's ``mmod_options`` that inference uses."""

    windows: tuple[DetectorWindow, ...]
    nms_iou_thresh: float = 0.5
    nms_percent_covered_thresh: float = 1.0
    use_bounding_box_regression: bool = False

    @classmethod
    def from_loss_meta(cls, loss: Mapping[str, Any]) -> MMODOptions:
        """From ``Graph.meta["loss"]`` as the dlib ``.dat`` reader writes it."""
        windows = loss.get("detector_windows")
        if not windows:
            raise FaceportError(
                "the model carries no mmod_options (net_to_xml does not write them); "
                "pass MMODOptions explicitly or convert the .dat file",
                field="meta.loss.detector_windows", expected="non-empty list", found=windows,
            )
        return cls(
            windows=tuple(
                DetectorWindow(int(w["width"]), int(w["height"]), str(w.get("label", "")))
                for w in windows
            ),
            nms_iou_thresh=float(loss.get("overlaps_nms_iou_thresh", 0.5)),
            nms_percent_covered_thresh=float(loss.get("overlaps_nms_percent_covered_thresh", 1.0)),
            use_bounding_box_regression=bool(loss.get("use_bounding_box_regression", False)),
        )


@dataclass(frozen=True)
class LayerMap:
    """One layer's ``map_output_to_input`` on both axes: ``p*scale + offset`` or its inverse."""

    name: str
    scale: tuple[float, float]  # x, y
    offset: tuple[float, float]
    inverse: bool = False  # cont: (p - offset) / scale

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (sx, sy), (ox, oy) = self.scale, self.offset
        if self.inverse:
            return (x - ox) / sx, (y - oy) / sy
        return x * sx + ox, y * sy + oy


def output_to_input_maps(graph: Graph, output: str | None = None) -> tuple[LayerMap, ...]:
    """Layer maps from ``output`` back to the graph input, in dlib's visiting order."""
    producers = graph.producers()
    tensor = output or graph.outputs[0]
    input_names = {spec.name for spec in graph.inputs}
    maps: list[LayerMap] = []
    while tensor not in input_names:
        node = producers.get(tensor)
        if node is None or not node.inputs:
            raise FaceportError(f"cannot walk from {tensor!r} back to the graph input")
        op = node.op
        if op in _STRIDED_OPS or op == "cont":
            kx, ky = int(node.attr("nc", 0)), int(node.attr("nr", 0))
            if kx <= 0 or ky <= 0:
                raise FaceportError(
                    f"{node.name}: a whole-image {op} has no fixed output->input map",
                    field="nr/nc", expected="> 0", found=(ky, kx),
                )
            sx, sy = float(node.attr("stride_x", 1)), float(node.attr("stride_y", 1))
            px, py = float(node.attr("padding_x", 0)), float(node.attr("padding_y", 0))
            if op == "cont":
                maps.append(LayerMap(node.name, (sx, sy), (kx // 2 - px, ky // 2 - py), True))
            else:
                maps.append(LayerMap(node.name, (sx, sy), (kx // 2 - px, ky // 2 - py)))
        elif op == "upsample":
            sx, sy = float(node.attr("scale_x", 1)), float(node.attr("scale_y", 1))
            maps.append(LayerMap(node.name, (1.0 / sx, 1.0 / sy), (0.0, 0.0)))
        elif not (op in _IDENTITY_OPS or op.startswith("loss_")):
            raise FaceportError(
                f"{node.name}: no output->input coordinate map known for dlib op {op!r}",
                field="op", expected=sorted(_IDENTITY_OPS | _STRIDED_OPS | {"cont", "upsample"}),
                found=op,
            )
        tensor = node.inputs[0]
    return tuple(maps)


def map_to_input(maps: Sequence[LayerMap], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    for m in maps:
        x, y = m.apply(x, y)
    return x, y


def nearest_level(layout: TiledPyramid, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """dlib ``nearest_rect`` of the rounded points (first containing, else nearest)."""
    px = np.floor(np.asarray(cx, dtype=np.float64) + 0.5)
    py = np.floor(np.asarray(cy, dtype=np.float64) + 0.5)
    rects = np.asarray(layout.rects, dtype=np.float64)  # (L, 4)
    l, t, r, b = (rects[:, i][:, None] for i in range(4))
    inside = (px >= l) & (px <= r) & (py >= t) & (py <= b)  # (L, N)
    dist = np.hypot(np.clip(px, l, r) - px, np.clip(py, t, b) - py)
    first_inside = np.argmax(inside, axis=0)
    nearest = np.argmin(dist, axis=0)  # argmin keeps the first minimum, like the strict '<'
    return np.where(inside.any(axis=0), first_inside, nearest)


@dataclass(frozen=True)
class RawDetections:
    """Before NMS: integer-valued boxes (N, 4) l, t, r, b; scores (N,); window index (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    window: np.ndarray


def tensor_to_dets(
    output: np.ndarray,
    options: MMODOptions,
    maps: Sequence[LayerMap],
    layout: TiledPyramid,
    adjust_threshold: float = 0.0,
) -> RawDetections:
    """``loss_mmod_::tensor_to_dets`` for one sample; ``output``: float32 (K[*5], H, W)."""
    k = len(options.windows)
    expected = k * 5 if options.use_bounding_box_regression else k
    if output.shape[0] != expected:
        raise FaceportError(
            "MMOD output channels do not match the detector windows", field="output.k",
            expected=expected, found=output.shape[0],
        )
    scores_all = output[:k].astype(np.float64)
    kk, rr, cc = np.nonzero(scores_all > adjust_threshold)  # C order: k, r, c as dlib scans
    scores = scores_all[kk, rr, cc]
    px, py = map_to_input(maps, cc, rr)
    w = np.array([win.width for win in options.windows], dtype=np.float64)[kk] - 1
    h = np.array([win.height for win in options.windows], dtype=np.float64)[kk] - 1
    rect = np.stack([px - w / 2, py - h / 2, px + w / 2, py + h / 2], axis=1)
    if layout.rects:
        level = nearest_level(layout, (rect[:, 0] + rect[:, 2]) / 2, (rect[:, 1] + rect[:, 3]) / 2)
        origin = np.asarray(layout.rects, dtype=np.float64)[level][:, :2]
        x1, y1 = layout.point_up(rect[:, 0] - origin[:, 0], rect[:, 1] - origin[:, 1], level)
        x2, y2 = layout.point_up(rect[:, 2] - origin[:, 0], rect[:, 3] - origin[:, 1], level)
        rect = np.stack([x1, y1, x2, y2], axis=1)
    if options.use_bounding_box_regression and len(scores):
        rect = _apply_bbr(output, options, kk, rr, cc, rect)
    boxes = round_half_away(rect)
    order = np.argsort(-scores, kind="stable")
    return RawDetections(boxes[order], scores[order], kk[order])


def _apply_bbr(
    output: np.ndarray, options: MMODOptions, kk: np.ndarray, rr: np.ndarray, cc: np.ndarray,
    rect: np.ndarray,
) -> np.ndarray:
    """dlib's bounding-box regression on the unrounded window ``rect`` (N, 4): shift by
    (dx*w, dy*h) with w = width - 1, then re-centre to (w*e^dw + 1, h*e^dh + 1)."""
    n = len(options.windows)
    base = n + kk * 4
    dx, dy, dw, dh = (output[base + i, rr, cc].astype(np.float64) for i in range(4))
    w = rect[:, 2] - rect[:, 0]  # drectangle width() - 1
    h = rect[:, 3] - rect[:, 1]
    cx = (rect[:, 0] + dx * w + rect[:, 2] + dx * w) / 2
    cy = (rect[:, 1] + dy * h + rect[:, 3] + dy * h) / 2
    nw, nh = w * np.exp(dw), h * np.exp(dh)  # centered_drect(w*dw+1, ...) subtracts the 1 back
    return np.stack([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2], axis=1)


def mmod_nms(
    boxes: np.ndarray, iou_thresh: float, percent_covered_thresh: float
) -> np.ndarray:
    """Indices kept by dlib's greedy ``overlaps_any_box_nms`` (boxes already sorted)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep: list[int] = []
    for i in range(len(boxes)):
        if keep:
            kept = boxes[keep]
            iw = np.minimum(kept[:, 2], boxes[i, 2]) - np.maximum(kept[:, 0], boxes[i, 0]) + 1
            ih = np.minimum(kept[:, 3], boxes[i, 3]) - np.maximum(kept[:, 1], boxes[i, 1]) + 1
            inner = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
            ow = np.maximum(kept[:, 2], boxes[i, 2]) - np.minimum(kept[:, 0], boxes[i, 0]) + 1
            oh = np.maximum(kept[:, 3], boxes[i, 3]) - np.minimum(kept[:, 1], boxes[i, 1]) + 1
            nz = inner > 0
            hit = nz & (
                (inner / (ow * oh) > iou_thresh)
                | (inner / area[keep] > percent_covered_thresh)
                | (inner / area[i] > percent_covered_thresh)
            )
            if hit.any():
                continue
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)
