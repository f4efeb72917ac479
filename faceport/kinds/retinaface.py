"""insightface RetinaFace (MXNet ``net3`` heads: ``face_rpn_{cls_prob_reshape,bbox_pred,
landmark_pred}_stride<S>``), decoded as ``RetinaFace.detect`` does.

insightface feeds float RGB pixels 0..255 with ``pixel_means`` 0, ``pixel_stds`` 1 and
``pixel_scale`` 1 (it reverses the channels of a cv2 BGR image); no checkpoint records this, so
:func:`complete` fills it in when the reader found no preprocessing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from faceport.kinds import ModelKind
from faceport.modelinfo import HeadInfo, Preprocess

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo

HEAD = re.compile(r"face_rpn_(cls_prob_reshape|bbox_pred|landmark_pred)_stride(\d+)$")
INSIGHTFACE = Preprocess(
    color="RGB", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), pixel_scale=1.0,
    note="insightface RetinaFace.detect: (pixel/pixel_scale - mean)/std, RGB",
)  # fmt: skip


def recognise(info: ModelInfo, graph: Graph) -> bool:
    """The outputs are RetinaFace's cls/bbox/landmark heads per stride (or the info says so)."""
    if info.head_kind == "retinaface":
        return True
    outputs = graph.outputs
    return (
        bool(outputs)
        and any(HEAD.search(name) and "cls_prob" in name for name in outputs)
        and all(HEAD.search(name) for name in outputs)
    )


def strides(graph: Graph) -> list[int]:
    """The head strides, coarsest first (insightface's order: 32, 16, 8)."""
    found = {int(m.group(2)) for name in graph.outputs if (m := HEAD.search(name))}
    return sorted(found, reverse=True)


def complete(info: ModelInfo, graph: Graph) -> ModelInfo:
    head = info.head or HeadInfo("retinaface", {"strides": strides(graph)})
    return replace(info, head=head, preprocess=info.preprocess or INSIGHTFACE)


KIND = ModelKind(
    name="retinaface",
    title="RetinaFace detector",
    families=("mxnet",),
    recognise=recognise,
    complete=complete,
    outputs_meaning="per stride 32/16/8: cls_prob_reshape (N, 2A, h, w; face prob in "
    "channels A..2A), bbox_pred (N, 4A, h, w), landmark_pred (N, 10A, h, w); A = 2 anchors",
    comparison="detections",
    feed="faceport.detect.retinaface:network_feed",
    detector="faceport.detect.retinaface:RetinaFaceDetector",
    export_builder="faceport.exporters.detector_retinaface",
    reference_runner="mxnet",
    reference_detector="mxnet",
)
