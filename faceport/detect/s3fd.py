"""S3FD detection: anchors, box decoding, and the whole-image detector.

Semantics follow SFD_pytorch's ``detect.py``/``bbox.py`` (same in face_alignment):

* input: BGR image minus (104, 117, 123), no scaling, any size (no resize);
* per level k = 0..5: stride 2**(k+2) (4 ... 128), one square anchor per location of side
  4 x stride centred at (stride/2 + x*stride, stride/2 + y*stride);
* softmax over the 2 conf channels; a location is a candidate when its face probability
  is > 0.05;
* decode with variances (0.1, 0.2): centre = anchor centre + loc[:2] * 0.1 * anchor side,
  size = anchor side * exp(loc[2:] * 0.2);
* greedy NMS at IoU 0.3 in the "+1 pixel" area convention, then keep scores >= 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.nms import nms
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import info_of
from faceport.kinds.s3fd import ANCHOR_SCALE, BGR_MEAN, STRIDES, VARIANCES, S3FDDecode

MIN_SIDE = 32


def anchors(height: int, width: int, stride: int, scale: int = ANCHOR_SCALE) -> np.ndarray:
    """(height*width, 4) float64 anchors (cx, cy, w, h), row-major over the feature map."""
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    cx = stride / 2 + xs.reshape(-1) * stride
    cy = stride / 2 + ys.reshape(-1) * stride
    side = np.full(cx.shape, float(stride * scale))
    return np.stack([cx, cy, side, side], axis=1)


def decode(
    loc: np.ndarray, priors: np.ndarray, variances: Sequence[float] = VARIANCES
) -> np.ndarray:
    """(N, 4) regressions + (N, 4) priors (cx, cy, w, h) -> (N, 4) boxes (x1, y1, x2, y2)."""
    loc = np.asarray(loc, dtype=np.float64)
    centre = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    top_left = centre - size / 2
    return np.concatenate([top_left, top_left + size], axis=1)


def softmax_face(conf: np.ndarray) -> np.ndarray:
    """(1, 2, H, W) logits -> (H, W) face probability, computed like torch's float32 softmax."""
    import torch

    with torch.no_grad():
        prob = torch.softmax(torch.from_numpy(np.ascontiguousarray(conf, np.float32)), dim=1)
    return prob[0, 1].numpy()


def candidates(
    outputs: Sequence[np.ndarray],
    strides: Sequence[int] = STRIDES,
    *,
    threshold: float = 0.05,
    min_level: int = 0,
    variances: Sequence[float] = VARIANCES,
) -> tuple[np.ndarray, np.ndarray]:
    """All decoded boxes whose face probability is > ``threshold``: (N, 4), (N,)."""
    boxes, scores = [], []
    for level, stride in enumerate(strides):
        if level < min_level:
            continue
        prob = softmax_face(outputs[2 * level])
        loc = np.asarray(outputs[2 * level + 1])[0]  # (4, H, W)
        height, width = prob.shape
        flat = prob.reshape(-1)
        idx = np.flatnonzero(flat > threshold)
        if idx.size == 0:
            continue
        priors = anchors(height, width, stride)[idx]
        boxes.append(decode(loc.reshape(4, -1)[:, idx].T, priors, variances))
        scores.append(flat[idx].astype(np.float64))
    if not boxes:
        return np.zeros((0, 4)), np.zeros((0,))
    return np.concatenate(boxes), np.concatenate(scores)


def postprocess(
    outputs: Sequence[np.ndarray],
    *,
    candidate_threshold: float = 0.05,
    nms_iou: float = 0.3,
    score_threshold: float = 0.5,
    min_level: int = 0,
    strides: Sequence[int] = STRIDES,
) -> Detections:
    """The 12 head outputs (cls1, reg1, ..., cls6, reg6) -> final detections."""
    boxes, scores = candidates(
        outputs, strides, threshold=candidate_threshold, min_level=min_level
    )
    keep = nms(boxes, scores, nms_iou, pixel_offset=1.0)
    keep = keep[scores[keep] >= score_threshold]
    return Detections(boxes[keep], scores[keep])


def preprocess(image_rgb: np.ndarray, mean: Sequence[float] = BGR_MEAN) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> float32 (1, 3, H, W) BGR minus mean."""
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise FaceportError("image must be (H, W, 3) RGB", expected="(H, W, 3)",
                            found=image.shape)
    if min(image.shape[:2]) < MIN_SIDE:
        # five 2x2 floor pools: a side under 32 px leaves an empty feature map
        raise FaceportError("image too small for S3FD", expected=f">= {MIN_SIDE} px per side",
                            found=image.shape[:2])
    bgr = image[:, :, ::-1].astype(np.float32) - np.asarray(mean, dtype=np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])


class S3FDDetector(Detector):
    """Run a converted S3FD graph on an RGB image: ``detector(image, options) -> Detections``.

    Contract options: ``score_threshold`` (0.5), ``nms_iou`` (0.3); extras
    ``candidate_threshold`` (0.05) and ``min_level`` (0; SFD_pytorch's later ``detect.py``
    skips the three finest levels with ``minscale=3``). Defaults come from the model's head
    record when the reader wrote one.
    """

    title = "S3FD detector"
    takes = frozenset({"score_threshold", "nms_iou"})
    extras: ClassVar[Mapping[str, type]] = {"candidate_threshold": float, "min_level": int}

    def __init__(self, graph: Graph, device: str = "cpu") -> None:
        from faceport.lower import lower

        decode = S3FDDecode.of(info_of(graph))
        self.graph = graph
        self.device = device
        self.strides = decode.strides
        self.defaults = {
            "candidate_threshold": decode.candidate_threshold,
            "nms_iou": decode.nms_iou,
            "score_threshold": decode.score_threshold,
            "min_level": 0,
        }
        self.mean = mean_of(graph)
        self.module: Any = lower(graph).to(device)

    def forward(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """The 12 raw head outputs for one image."""
        import torch

        batch = torch.from_numpy(preprocess(image_rgb, self.mean)).to(self.device)
        with torch.inference_mode():
            outs = self.module(batch)
        return [o.float().cpu().numpy() for o in outs]

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        """``image``: uint8 (H, W, 3) RGB; options as in the class docstring."""
        opts = {
            **self.defaults,
            **options.extras,
            "nms_iou": float(pick(options.nms_iou, self.defaults["nms_iou"])),
            "score_threshold": float(
                pick(options.score_threshold, self.defaults["score_threshold"])
            ),
        }
        return postprocess(self.forward(image), strides=self.strides, **opts)

    def use_network(self, network: Any) -> None:
        self.module = network

    def close(self) -> None:
        self.module = None


def mean_of(graph: Graph) -> tuple[float, float, float]:
    """The BGR mean the model's info records (SFD_pytorch's (104, 117, 123))."""
    pre = info_of(graph).preprocess
    if pre is None or pre.color != "BGR":
        raise FaceportError("S3FD graph without BGR preprocessing", field="info.preprocess",
                            found=None if pre is None else pre.color)  # fmt: skip
    return pre.mean


def network_feed(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W)}``: the S3FD detector's input for ``image``."""
    return {graph.inputs[0].name: preprocess(image, mean_of(graph))}
