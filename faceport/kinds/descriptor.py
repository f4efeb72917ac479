"""dlib's face descriptor (``loss_metric``, e.g. ``dlib_face_recognition_resnet_model_v1``):
a 128-D embedding of an aligned 150x150 RGB chip; same person when the L2 distance < 0.6."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.kinds import ModelKind

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return info.head_kind == "loss_metric"


KIND = ModelKind(
    name="descriptor",
    title="face descriptor",
    families=("dlib",),
    recognise=recognise,
    outputs_meaning="face descriptor (N, 128); same person when L2 distance < 0.6",
    comparison="descriptors",
    feed="faceport.detect.face_descriptor:network_feed",
    reference_runner="dlib-bin",
)
