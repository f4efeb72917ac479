"""RetinaFace detection (insightface's ``RetinaFace.detect``) over a converted graph.

Post-processing follows insightface ``detection/retinaface/retinaface.py`` with its ``net3``
setting (mnet.25 and R50): per stride 32/16/8 the network gives ``cls_prob_reshape`` (N, 2A,
H, W: background probabilities first, face probabilities in channels A..2A), ``bbox_pred``
(N, 4A, H, W) and ``landmark_pred`` (N, 10A, H, W). For each level the face scores, box and
landmark deltas are laid out (row, column, anchor), decoded against the anchors (see
:mod:`faceport.detect.retinaface_anchors`), boxes clipped to the image, and kept when
``score >= threshold``. All levels (and scales) are then sorted by descending score and
suppressed with greedy NMS in the inclusive-pixel convention (``cpu_nms``: IoU >= nms removes).

Pre-processing (``net3``): the tensor's channel ``i`` is the image's RGB channel ``i`` (insightface
reads BGR with cv2 and flips), ``(pixel / scale - mean) / std`` with mean 0, std 1, scale 1;
any input size (the network is fully convolutional; its crops align the FPN levels).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.nms import nms as greedy_nms
from faceport.detect.retinaface_anchors import (
    NET3,
    AnchorConfig,
    anchors_at,
    base_anchors,
    clip_boxes,
    decode_boxes,
    decode_landmarks,
)
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.kinds import info_of

if TYPE_CHECKING:
    from faceport.ir import Graph

Proposals = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _level_outputs(
    outputs: Mapping[str, np.ndarray], configs: Sequence[AnchorConfig]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(cls, bbox, landmark-or-None) per level: by insightface's names when all are present,
    else by position (insightface reads ``net_out[sym_idx]`` positionally)."""
    names = list(outputs)
    by_name: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for cfg in configs:
        found = {}
        for kind in ("cls_prob_reshape", "bbox_pred", "landmark_pred"):
            pattern = re.compile(rf"{kind}_stride{cfg.stride}(_output)?$")
            hits = [n for n in names if pattern.search(n)]
            if len(hits) == 1:
                found[kind] = outputs[hits[0]]
        if "cls_prob_reshape" not in found or "bbox_pred" not in found:
            by_name = []
            break
        by_name.append((found["cls_prob_reshape"], found["bbox_pred"], found.get("landmark_pred")))
    if by_name:
        return by_name
    per_level = len(names) // len(configs)
    if per_level < 2:
        raise FaceportError(
            "RetinaFace outputs do not match the anchor configuration",
            expected=f">= {2 * len(configs)} outputs (cls, bbox[, landmark] per stride)",
            found=names,
        )
    arrays = [outputs[n] for n in names]
    return [
        (
            arrays[i * per_level],
            arrays[i * per_level + 1],
            arrays[i * per_level + 2] if per_level >= 3 else None,
        )
        for i in range(len(configs))
    ]


def _rows_at(maps: np.ndarray, keep: np.ndarray, anchors: int) -> np.ndarray:
    """Rows ``keep`` of ``maps`` (N, A*K, H, W) laid out (n, row, col, anchor) x K, without
    transposing the whole map."""
    n, channels, height, width = maps.shape
    per = channels // anchors
    cell, anchor = np.divmod(keep, anchors)
    image, pixel = np.divmod(cell, height * width)
    flat = maps.reshape(n, anchors, per, height * width)
    return flat[image[:, None], anchor[:, None], np.arange(per)[None, :], pixel[:, None]]


def retinaface_proposals(
    outputs: Mapping[str, np.ndarray],
    im_shape: tuple[int, int],
    threshold: float,
    *,
    configs: Sequence[AnchorConfig] = NET3,
    im_scale: float = 1.0,
) -> Proposals:
    """Thresholded boxes (M, 4) float64, scores (M,) float32, landmarks (M, 5, 2) float32 or
    ``None``, for one forward pass on an image of ``im_shape`` = (height, width) that was
    resized by ``im_scale`` (coordinates are divided by it), in insightface's level order."""
    boxes_all, scores_all, marks_all = [], [], []
    height, width = im_shape
    for cfg, (cls, bbox, marks) in zip(configs, _level_outputs(outputs, configs)):
        a = cfg.num_anchors
        cls = np.asarray(cls, dtype=np.float32)
        bbox = np.asarray(bbox, dtype=np.float32)
        if cls.ndim != 4 or cls.shape[1] != 2 * a or bbox.shape[1] != 4 * a:
            raise FaceportError(
                f"stride {cfg.stride}: unexpected RetinaFace output shapes",
                expected=f"cls (N, {2 * a}, H, W), bbox (N, {4 * a}, H, W)",
                found=f"cls {cls.shape}, bbox {bbox.shape}",
            )
        fh, fw = bbox.shape[2], bbox.shape[3]
        # every decode step is elementwise per anchor: thresholding first and decoding only
        # the kept anchors gives the same numbers as insightface's decode-all-then-keep
        scores = cls[:, a:, :, :].transpose(0, 2, 3, 1).reshape(-1)
        keep = np.flatnonzero(scores >= threshold)
        anchors = anchors_at(keep % (fh * fw * a), fw, cfg.stride, base_anchors(cfg))
        deltas = _rows_at(bbox, keep, a)
        boxes = clip_boxes(decode_boxes(anchors, deltas[:, :4]), height, width)
        boxes_all.append(boxes / im_scale)
        scores_all.append(scores[keep])
        if marks is not None:
            marks = np.asarray(marks, dtype=np.float32)
            md = _rows_at(marks, keep, a)
            md = md.reshape(len(keep), 5, md.shape[1] // 5)
            points = decode_landmarks(anchors, md) / np.float32(im_scale)
            marks_all.append(points)
    landmarks = np.concatenate(marks_all) if marks_all else None
    return np.concatenate(boxes_all), np.concatenate(scores_all), landmarks


def merge_and_suppress(proposals: Sequence[Proposals], nms_threshold: float) -> Detections:
    """Concatenate proposals of all scales, sort by score (descending) and run NMS."""
    boxes = np.concatenate([p[0] for p in proposals]) if proposals else np.zeros((0, 4))
    scores = np.concatenate([p[1] for p in proposals]) if proposals else np.zeros((0,))
    with_marks = bool(proposals) and all(p[2] is not None for p in proposals)
    if boxes.shape[0] == 0:
        return Detections.empty(landmarks=5 if with_marks else 0)
    order = scores.argsort()[::-1]
    det = np.hstack((boxes[order], scores[order, None])).astype(np.float32)
    marks = np.concatenate([p[2] for p in proposals])[order] if with_marks else None
    if nms_threshold > 0:
        keep = greedy_nms(det[:, :4], det[:, 4], nms_threshold, pixel_offset=1.0,
                          suppress_equal=True)
        det = det[keep]
        marks = None if marks is None else marks[keep]
    return Detections(
        boxes=det[:, :4].astype(np.float64),
        scores=det[:, 4].astype(np.float64),
        landmarks=None if marks is None else marks.astype(np.float64),
    )


def decode_retinaface(
    outputs: Mapping[str, np.ndarray],
    im_shape: tuple[int, int],
    threshold: float = 0.5,
    nms: float = 0.4,
    *,
    configs: Sequence[AnchorConfig] = NET3,
) -> Detections:
    """insightface's single-scale post-processing of the 9 RetinaFace outputs.

    ``outputs``: name -> (1, C, H, W) arrays (MXNet's or faceport's, names with or without
    ``_output``); ``im_shape``: (height, width) of the network input.
    """
    return merge_and_suppress(
        [retinaface_proposals(outputs, im_shape, threshold, configs=configs)], nms
    )


def resize_linear(image: np.ndarray, scale: float) -> np.ndarray:
    """uint8 bilinear resize by ``scale`` with OpenCV INTER_LINEAR's geometry.

    Size ``round(w * scale)``, source coordinate ``(d + 0.5) / scale - 0.5`` clamped to the
    image; computed in float and rounded, so it may differ from cv2's 11-bit fixed-point
    result by 1 grey level.
    """
    h, w = image.shape[:2]
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(n_out) + 0.5) / scale - 0.5
        lo = np.floor(src)
        frac = src - lo
        lo_i = np.clip(lo.astype(np.int64), 0, n_in - 1)
        hi_i = np.clip(lo.astype(np.int64) + 1, 0, n_in - 1)
        frac = np.where(src < 0, 0.0, np.where(src >= n_in - 1, 0.0, frac))
        return lo_i, hi_i, frac

    y0, y1, fy = axis(out_h, h)
    x0, x1, fx = axis(out_w, w)
    img = image.astype(np.float64)
    rows = img[y0] * (1 - fy)[:, None, None] + img[y1] * fy[:, None, None]
    out = rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def detect_multiscale(
    network: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    image: np.ndarray,
    threshold: float,
    nms: float,
    scales: Sequence[float] | None,
    *,
    configs: Sequence[AnchorConfig] = NET3,
) -> Detections:
    """insightface's ``RetinaFace.detect`` loop: for each of ``scales`` (default ``[1.0]``)
    resize ``image`` (:func:`resize_linear`), run ``network`` (uint8 RGB image -> raw
    outputs), decode at that scale; then one NMS over all proposals."""
    proposals = []
    for scale in scales or (1.0,):
        im = image if scale == 1.0 else resize_linear(image, scale)
        proposals.append(
            retinaface_proposals(
                network(im), im.shape[:2], threshold, configs=configs, im_scale=scale
            )
        )
    return merge_and_suppress(proposals, nms)


def configs_for(graph: Graph) -> tuple[AnchorConfig, ...]:
    """The anchor settings of the model's head strides (coarsest first): insightface's
    ``net3`` values for each of 32, 16 and 8 it has, so a checkpoint with a subset of them
    (two strides) decodes too; a stride ``net3`` does not define is refused."""
    head = info_of(graph).head
    strides = [int(s) for s in (head.options.get("strides") or [])] if head is not None else []
    known = {cfg.stride: cfg for cfg in NET3}
    missing = [s for s in strides if s not in known]
    if missing or not strides:
        raise FaceportError(
            "no insightface anchor settings for these RetinaFace strides", field="info.head",
            expected=f"a subset of {sorted(known, reverse=True)}", found=strides,
        )  # fmt: skip
    return tuple(known[s] for s in sorted(strides, reverse=True))


class RetinaFaceDetector(Detector):
    """Image in, :class:`Detections` out, over a converted RetinaFace graph (torch).

    ``pixel_means`` / ``pixel_stds`` / ``pixel_scale`` are in RGB order (insightface keeps them
    BGR and reverses); by default they come from the model's info (the ``net3`` values 0, 1,
    1 for mnet.25 and R50). Contract options: ``score_threshold`` (insightface ``threshold``,
    0.5), ``nms_iou`` (``nms``, 0.4), ``scales`` (default ``[1.0]``).
    """

    title = "RetinaFace detector"
    takes = frozenset({"score_threshold", "nms_iou", "scales"})

    def __init__(
        self,
        graph: Graph,
        device: str = "cpu",
        *,
        configs: Sequence[AnchorConfig] | None = None,
        pixel_means: Sequence[float] | None = None,
        pixel_stds: Sequence[float] | None = None,
        pixel_scale: float | None = None,
    ) -> None:
        from faceport.lower import lower

        pre = info_of(graph).preprocess
        if pre is None or pre.color != "RGB":
            raise FaceportError("RetinaFace graph expects non-RGB input",
                                found=None if pre is None else pre.color)  # fmt: skip
        self.graph = graph
        self.device = device
        self.configs = tuple(configs) if configs is not None else configs_for(graph)
        means = pixel_means if pixel_means is not None else pre.mean
        stds = pixel_stds if pixel_stds is not None else pre.std
        self.means = np.asarray(means, dtype=np.float32).reshape(3, 1, 1)
        self.stds = np.asarray(stds, dtype=np.float32).reshape(3, 1, 1)
        self.pixel_scale = float(pixel_scale if pixel_scale is not None else pre.pixel_scale)
        self.output_names = list(graph.outputs)
        self.module: Any = lower(graph).to(device)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> float32 (1, 3, H, W) network input."""
        return preprocess(image, self.means, self.stds, self.pixel_scale)

    def forward(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        """Run the network on a (1, 3, H, W) input; outputs keyed by graph output name."""
        import torch

        with torch.inference_mode():
            result = self.module(torch.from_numpy(np.ascontiguousarray(tensor)).to(self.device))
        values = result if isinstance(result, tuple) else (result,)
        return {n: v.float().cpu().numpy() for n, v in zip(self.output_names, values)}

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        """Detect faces in a uint8 RGB image at each of ``scales`` (default ``[1.0]``)."""
        return detect_multiscale(
            lambda im: self.forward(self.preprocess(im)),
            image,
            float(pick(options.score_threshold, DEFAULT_THRESHOLD)),
            float(pick(options.nms_iou, DEFAULT_NMS)),
            options.scales,
            configs=self.configs,
        )

    def use_network(self, network: Any) -> None:
        self.module = network

    def close(self) -> None:
        self.module = None


DEFAULT_THRESHOLD = 0.5
DEFAULT_NMS = 0.4


def preprocess(
    image: np.ndarray, means: np.ndarray, stds: np.ndarray, pixel_scale: float
) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 (1, 3, H, W): ``(pixel / pixel_scale - mean) / std``
    (``means``/``stds`` float32 (3, 1, 1))."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise FaceportError("expected an RGB image (H, W, 3)", found=tuple(image.shape))
    # one strided cast into the NCHW tensor, then only the steps that are not identities
    # (each is the same float32 op as ``(x / scale - mean) / std``, so the same bits)
    out = np.empty((1, 3, *image.shape[:2]), dtype=np.float32)
    np.copyto(out[0], image.transpose(2, 0, 1), casting="unsafe")
    if pixel_scale != 1.0:
        out /= pixel_scale
    if means.any():
        out -= means
    if (stds != 1).any():
        out /= stds
    return out


def network_feed(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W)}`` as the RetinaFace detector builds it."""
    pre = info_of(graph).preprocess
    if pre is None or pre.color != "RGB":
        raise FaceportError("RetinaFace graph expects non-RGB input",
                            found=None if pre is None else pre.color)  # fmt: skip
    means = np.asarray(pre.mean, dtype=np.float32).reshape(3, 1, 1)
    stds = np.asarray(pre.std, dtype=np.float32).reshape(3, 1, 1)
    return {graph.inputs[0].name: preprocess(image, means, stds, pre.pixel_scale)}
