"""Detector pre/post-processing (pyramids, anchors, decode, NMS) and the result type."""

from faceport.detect.types import Detections

__all__ = ["Detections"]
