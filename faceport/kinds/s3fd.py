"""S3FD (SFD_pytorch / face_alignment checkpoints): conf/loc heads on six levels, strides
4..128, SSD decoding with variances (0.1, 0.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.kinds import ModelKind

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return info.family == "s3fd"


KIND = ModelKind(
    name="s3fd",
    title="S3FD detector",
    families=("s3fd",),
    recognise=recognise,
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
