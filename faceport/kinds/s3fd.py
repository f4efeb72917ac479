"""S3FD (SFD_pytorch / face_alignment checkpoints): conf/loc heads on six levels, strides
4..128, SSD decoding with variances (0.1, 0.2).

No checkpoint records how it is used; SFD_pytorch's ``detect.py`` (the same in face_alignment)
fixes it, and :func:`complete` fills it in where the reader found nothing: BGR pixels minus
(104, 117, 123), no scaling; square anchors of side 4 x stride; candidates with face
probability > 0.05, greedy NMS at IoU 0.3 ("+1 pixel" areas), keep scores >= 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from faceport.errors import FormatError
from faceport.kinds import ModelKind
from faceport.modelinfo import HeadInfo, Preprocess

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo


STRIDES = (4, 8, 16, 32, 64, 128)
ANCHOR_SCALE = 4
VARIANCES = (0.1, 0.2)
SFD_PYTORCH = Preprocess(
    color="BGR", mean=(104.0, 117.0, 123.0),
    note="SFD_pytorch detect.py: img - [104, 117, 123], BGR, no scaling",
)  # fmt: skip
BGR_MEAN = SFD_PYTORCH.mean
#: SFD_pytorch's decode settings (the head record's defaults)
DECODE: dict[str, Any] = {
    "strides": list(STRIDES), "anchor_scale": ANCHOR_SCALE, "variances": list(VARIANCES),
    "candidate_threshold": 0.05, "nms_iou": 0.3, "score_threshold": 0.5,
}  # fmt: skip


@dataclass(frozen=True)
class S3FDDecode:
    """The S3FD head record, typed: level strides, anchor side = ``anchor_scale`` x stride,
    SSD ``variances``, the candidate / NMS / final thresholds."""

    strides: tuple[int, ...]
    anchor_scale: int
    variances: tuple[float, float]
    candidate_threshold: float
    nms_iou: float
    score_threshold: float

    @classmethod
    def of(cls, info: ModelInfo) -> S3FDDecode:
        options = {**DECODE, **(info.head.options if info.head is not None else {})}
        try:
            variances = tuple(float(v) for v in options["variances"])
            return cls(
                strides=tuple(int(s) for s in options["strides"]),
                anchor_scale=int(options["anchor_scale"]),
                variances=(variances[0], variances[1]),
                candidate_threshold=float(options["candidate_threshold"]),
                nms_iou=float(options["nms_iou"]),
                score_threshold=float(options["score_threshold"]),
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise FormatError(f"bad S3FD head record: {exc}", field="info.head.options",
                              found=dict(options)) from None  # fmt: skip


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return info.family == "s3fd"


def complete(info: ModelInfo, graph: Graph) -> ModelInfo:
    options = {**DECODE, **(info.head.options if info.head is not None else {})}
    return replace(info, preprocess=info.preprocess or SFD_PYTORCH,
                   head=HeadInfo("s3fd", options))  # fmt: skip


KIND = ModelKind(
    name="s3fd",
    title="S3FD detector",
    families=("s3fd",),
    recognise=recognise,
    complete=complete,
    outputs_meaning="per level stride 4..128: conf logits (N, 2, h, w; softmax channel 1 = "
    "face), loc (N, 4, h, w) SSD deltas with variances (0.1, 0.2) against square anchors "
    "4*stride",
    comparison="detections",
    feed="faceport.detect.s3fd:network_feed",
    detector="faceport.detect.s3fd:S3FDDetector",
    export_builder="faceport.exporters.detector_s3fd",
    reference_runner="s3fd-reference",
    reference_detector="s3fd-reference",
)
