"""Verifying the files users ship against the source framework: an ONNX or ORT-format export
run by onnxruntime, or a .pt2 / .pte / .pt run by torch.export, ExecuTorch or TorchScript
(:mod:`faceport.verify.artifact_files`).

The exporter recorded in the file what it is (``faceport.*`` metadata): the source's name and
sha256, whether it is a whole detector (uint8 image in, boxes out) and that detector's colour
order and default thresholds. A network file is compared tensor by tensor with the source
framework's outputs on the model kind's feed; a whole detector at detection level with the
source framework's own detector.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Runner
from faceport.backends.onnxruntime import OnnxRuntimeRunner
from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.serialize import sha256_file
from faceport.verify.artifact_files import TORCH_SUFFIXES, TorchFileRunner, read_torch_metadata

SUFFIXES = (".onnx", ".ort", *TORCH_SUFFIXES)


@dataclass(frozen=True)
class Artifact:
    """A shipped file and what its metadata says about it."""

    path: Path
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def ort_format(self) -> bool:
        return self.path.suffix.lower() == ".ort"

    @property
    def whole_detector(self) -> bool:
        return self.metadata.get("faceport.with_postprocess") == "true"

    @property
    def sources(self) -> list[tuple[str, str]]:
        """(file name, sha256) of the source files the export was made from."""
        names = [n for n in self.metadata.get("faceport.source_file", "").split(",") if n]
        digests = self.metadata.get("faceport.source_sha256", "").split(",")
        return [(n, digests[i] if i < len(digests) else "") for i, n in enumerate(names)]

    def runner(self) -> Runner:
        if self.path.suffix.lower() in TORCH_SUFFIXES:
            return TorchFileRunner(self.path, self.metadata)
        return OnnxRuntimeRunner(self.path, name=f"shipped:{self.path.name}",
                                 ort_format=self.ort_format)  # fmt: skip


def read_artifact(path: str | os.PathLike[str]) -> Artifact:
    """Open ``path`` in onnxruntime once and read its metadata (not a faceport export, or not
    loadable: a :class:`FaceportError`)."""
    from faceport.ort_session import open_session

    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise FaceportError("not a shipped model file", file=str(p), expected=list(SUFFIXES))
    if not p.is_file():
        raise FaceportError("no such file", file=str(p))
    if p.suffix.lower() in TORCH_SUFFIXES:
        metadata = read_torch_metadata(p)
        if "faceport.version" not in metadata:
            raise FaceportError("this file was not exported by faceport (no faceport metadata)",
                                file=str(p), hint="verify the source model instead")  # fmt: skip
        return Artifact(p, metadata)
    try:
        session = open_session(p, ort_format=p.suffix.lower() == ".ort")
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise FaceportError(f"onnxruntime cannot load it: {str(exc).splitlines()[0][:300]}",
                            file=str(p)) from None  # fmt: skip
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    if "faceport.version" not in metadata:
        raise FaceportError("this file was not exported by faceport (no faceport metadata)",
                            file=str(p), hint="verify the source model instead")  # fmt: skip
    return Artifact(p, metadata)


def locate_artifact_source(artifact: Artifact) -> tuple[Path | None, str]:
    """(the source model beside the shipped file, matched by name and sha256, or the reason)."""
    if not artifact.sources:
        return None, f"{artifact.path.name} records no source file: pass --source ORIGINAL"
    name, digest = artifact.sources[0]
    candidate = artifact.path.resolve().parent / name
    if candidate.is_file() and (not digest or sha256_file(candidate) == digest):
        return candidate, ""
    return None, (f"the source {name} (sha256 {digest[:12]}...) is not beside "
                  f"{artifact.path.name}: pass --source ORIGINAL")  # fmt: skip


def check_artifact_source(artifact: Artifact, source: Path) -> None:
    """Refuse a ``--source`` that is not the file the artifact was exported from."""
    digests = {d for _, d in artifact.sources if d}
    if source.is_file() and digests and sha256_file(source) not in digests:
        raise FaceportError("--source is not the file this export was made from",
                            file=str(source), expected=sorted(digests))  # fmt: skip


def fixed_input_shape(metadata: dict[str, str]) -> tuple[int, ...] | None:
    """The one fixed input shape a network file records (``faceport.input_shapes``: a list of
    ints, or ``{input: [dims]}`` with no symbolic dim), else None (dynamic or unrecorded)."""
    try:
        value = json.loads(metadata.get("faceport.input_shapes", "null"))
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, list) and value and all(isinstance(d, int) for d in value):
        return tuple(value)
    return None


def fixed_size(metadata: dict[str, str]) -> tuple[int, int] | None:
    """(H, W) of a fixed-size export (``faceport.input_size`` ``WxH``), else None."""
    text = metadata.get("faceport.input_size", "dynamic")
    parts = text.split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[1]), int(parts[0])


class ShippedDetector(Detector):
    """A whole-detector file run by onnxruntime under the detector contract: the RGB image is
    given in the file's colour order, the thresholds default to the file's own."""

    title = "shipped whole detector"
    takes = frozenset({"score_threshold", "nms_iou", "upsample"})

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        meta = artifact.metadata
        self.color = meta.get("faceport.image_color_order", "RGB")
        defaults: dict[str, Any] = json.loads(meta.get("faceport.threshold_defaults", "{}"))
        self.score = float(defaults.get("score_threshold", 0.5))
        self.iou = float(defaults.get("iou_threshold", 0.4))
        self.size = fixed_size(meta)
        #: dlib's upsample_num_times, built into a fixed-size dlib export
        self.upsample = meta.get("faceport.upsample_num_times")
        self.runner = artifact.runner()
        self._open = False

    def check(self, options: DetectOptions) -> DetectOptions:
        options = super().check(options)
        if options.upsample is not None and self.upsample is None:
            raise FaceportError("this whole-detector file takes no upsample option",
                                field="upsample", found=options.upsample)  # fmt: skip
        if options.upsample is not None and str(options.upsample) != self.upsample:
            raise FaceportError(
                f"this file was exported with upsample_num_times {self.upsample}; it cannot "
                "run with another", field="upsample", expected=self.upsample,
                found=options.upsample,
            )  # fmt: skip
        return options

    def why_unavailable(self) -> str | None:
        return self.runner.why_unavailable()

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        if not self._open:
            self.runner.__enter__()
            self._open = True
        if self.size is not None and tuple(image.shape[:2]) != self.size:
            raise FaceportError(
                "the file takes images of one size", field="image",
                expected=f"{self.size[1]}x{self.size[0]}",
                found=f"{image.shape[1]}x{image.shape[0]}",
            )  # fmt: skip
        pixels = np.ascontiguousarray(image if self.color == "RGB" else image[:, :, ::-1])
        feed = {
            "image": pixels,
            "score_threshold": np.array(pick(options.score_threshold, self.score), np.float32),
            "iou_threshold": np.array(pick(options.nms_iou, self.iou), np.float32),
        }
        out = self.runner.infer(feed)
        boxes = np.asarray(out["boxes"], np.float64).reshape(-1, 4)
        scores = np.asarray(out["scores"], np.float64).reshape(-1)
        marks = out.get("landmarks")
        landmarks = None if marks is None else np.asarray(marks, np.float64).reshape(-1, 5, 2)
        return Detections(boxes, scores, landmarks)

    def close(self) -> None:
        if self._open:
            self.runner.__exit__(None, None, None)
            self._open = False


def fit_inputs(
    artifact: Artifact, graph: Any, images: list[tuple[str, np.ndarray]], options: DetectOptions,
    detector: Detector | None,
) -> tuple[list[tuple[str, np.ndarray]], DetectOptions, str]:  # fmt: skip
    """The inputs and detector options a fixed-size shipped file can be checked on, and what
    was done to them (empty when nothing was).

    A whole-detector file of one size: every image resized to it (for the file and the
    reference alike), the reference run with the ``upsample_num_times`` built into the file.
    A network file with one fixed input shape: each image kept, or resized to the file's H, W
    where the kind's feed then has that shape (the feed is the image itself for RetinaFace and
    S3FD), else left out (a dlib pyramid canvas of another size cannot be resized into it)."""
    from dataclasses import replace

    from faceport.kinds import feed
    from faceport.verify.inputs import fit_images

    if isinstance(detector, ShippedDetector):
        notes = []
        if detector.size is not None:
            h, w = detector.size
            images = fit_images(images, detector.size)
            notes.append(f"the file takes {w}x{h} images: inputs are resized to it (bilinear) "
                         "for both the file and the reference")  # fmt: skip
        if detector.upsample is not None and options.upsample is None:
            options = replace(options, upsample=int(detector.upsample))
        return images, options, "; ".join(notes)
    shape = fixed_input_shape(artifact.metadata)
    if shape is None:
        return images, options, ""
    name = graph.inputs[0].name
    kept, dropped = [], []
    for label, image in images:
        for item in [(label, image), *fit_images([(label, image)], (shape[2], shape[3]))]:
            try:
                if tuple(feed(graph, item[1])[name].shape) == shape:
                    kept.append(item)
                    break
            except FaceportError:
                continue
        else:
            dropped.append(label)
    left = f": {', '.join(dropped)}" if dropped else ""
    return kept, options, (f"the file takes a fixed {'x'.join(map(str, shape))} input: inputs "
                           f"resized to fit where that gives it ({len(kept)} kept, "
                           f"{len(dropped)} left out{left})")  # fmt: skip
