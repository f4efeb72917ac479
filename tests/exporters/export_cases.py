"""Models, photos and helpers for the exporter tests.

Families: ``dlib`` (the real mmod_human_face_detector.dat from ../shared/fixtures), ``mnet``
(the real insightface mnet.25 RetinaFace) and ``s3fd`` (seeded SFD_pytorch-layout weights
from tools/s3fd_fixtures.py: no trained S3FD weights may be downloaded here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import SHARED, shared_fixture

FAMILIES = ("dlib", "mnet", "s3fd")
#: (H, W) of the whole-detector exports that need a fixed size (dlib's pyramid layout
#: depends on it); the others are exported dynamic
DETECTOR_SIZE = {"dlib": (375, 500)}
PHOTOS = sorted((SHARED / "images").glob("*/*.jpg")) if SHARED.exists() else []


def source_path(name: str) -> Path:
    if name == "dlib":
        return shared_fixture("dlib/mmod_human_face_detector.dat")
    if name == "mnet":
        return shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    from tests.reference import s3fd_session

    return s3fd_session.fixture_files()[s3fd_session.CANONICAL]


_GRAPHS: dict[str, Any] = {}


def graph_for(name: str) -> Any:
    if name not in _GRAPHS:
        from faceport.converters import convert

        _GRAPHS[name] = convert(source_path(name))
    return _GRAPHS[name]


def photo(relative: str) -> np.ndarray:
    from faceport.imageio import load_rgb

    return load_rgb(shared_fixture(relative))


def run_detector(session: Any, image_rgb: np.ndarray, color: str, thresholds: dict) -> list:
    """Feed an RGB image to a whole-detector session in its colour order."""
    image = image_rgb if color == "RGB" else image_rgb[:, :, ::-1]
    feed = {
        "image": np.ascontiguousarray(image),
        "score_threshold": np.array(thresholds["score_threshold"], np.float32),
        "iou_threshold": np.array(thresholds["iou_threshold"], np.float32),
    }
    return list(session.run(None, feed))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of x1, y1, x2, y2 boxes (continuous areas)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-12))


def mmod_detections_via(backend: str) -> tuple[Any, Any]:
    """(faceport's MMOD detections, the same detector running its network on ``backend``) on
    scikit-image's astronaut."""
    import torch
    from skimage import data

    from faceport.backends import make_runner
    from faceport.detect.base import DetectOptions
    from faceport.detect.mmod import MMODDetector

    image = np.ascontiguousarray(data.astronaut())
    graph = graph_for("dlib")
    name, output = graph.inputs[0].name, graph.outputs[0]
    with MMODDetector(graph) as det:
        want = det(image, DetectOptions())
    with make_runner(backend, graph) as runner, MMODDetector(graph) as det:
        det.use_network(lambda x: torch.from_numpy(runner.infer({name: x.numpy()})[output]))
        got = det(image, DetectOptions())
    return want, got
