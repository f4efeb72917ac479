"""dlib's MMOD CNN detector (``cnn_face_detection_model_v1``: ``loss_mmod`` over an
``input_rgb_image_pyramid``): score maps per detector window, decoded by ``loss_mmod_::to_label``
through the tiled pyramid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faceport.kinds import ModelKind

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.modelinfo import ModelInfo


def recognise(info: ModelInfo, graph: Graph) -> bool:
    return info.head_kind == "loss_mmod"


KIND = ModelKind(
    name="mmod",
    title="dlib MMOD detector",
    families=("dlib",),
    recognise=recognise,
    outputs_meaning="per detector window: MMOD score map (N, K, h, w); > adjust_threshold "
    "(0) is a detection centred at the window's map_output_to_input position",
    comparison="detections",
    feed="faceport.detect.mmod:network_feed",
    detector="faceport.detect.mmod:MMODDetector",
    export_builder="faceport.exporters.detector_dlib",
    fp16_fp32_nodes="faceport.exporters.fp16:last_conv",
    reference_runner="dlib-cpp",
    reference_detector="dlib-bin",
)
