"""dlib classifiers: networks ending in a log-likelihood loss (``loss_multiclass_log`` and its
binary / multi-label variants); the outputs are per-class scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.kinds import ModelKind

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo

LOSSES = (
    "loss_multiclass_log",
    "loss_multiclass_log_weighted",
    "loss_binary_hinge",
    "loss_binary_log",
    "loss_multibinary_log",
    "loss_multimulticlass_log",
)


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return info.head_kind in LOSSES


KIND = ModelKind(
    name="classifier",
    title="classifier",
    families=("dlib",),
    recognise=recognise,
    outputs_meaning="per-class scores (N, classes) before the loss's softmax/sigmoid",
    comparison="classes",
)
