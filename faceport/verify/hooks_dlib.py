"""Verification hooks of the dlib family (``DlibFamily`` delegates here).

* :func:`preprocess`: what :class:`faceport.detect.mmod.MMODDetector` feeds the network for
  ``upsample_num_times=0``: ``input_rgb_image_pyramid::to_tensor`` (tiled pyramid, mean
  subtracted, scaled by 1/256) as graph input ``input``.
* :func:`reference_runner`: dlib's own C++ library through ``tools/dlib_ref`` (``dlib_ref
  dump-mmod``: ``net.to_tensor`` on the raw image, then every layer's output dumped). Its layer
  ``i`` (dlib's ``layer<i>(net)``, 0 = the loss) is faceport's node ``<kind>_<i>``; the loss
  node's output is the tensor it scores (layer 1). Needs ``make dlib-ref``.
* :func:`reference_detector`: dlib-bin's ``cnn_face_detection_model_v1`` (Python bindings).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.converters import Detector
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DUMPER_ENV = "FACEPORT_DLIB_REF"
DUMP_TIMEOUT_S = 300.0
_LAYER_INDEX = re.compile(r"_(\d+)$")


def dumper_path() -> Path:
    """The ``dlib_ref`` binary (``FACEPORT_DLIB_REF`` overrides ``build/dlib_ref/dlib_ref``)."""
    return Path(os.environ.get(DUMPER_ENV) or REPO / "build" / "dlib_ref" / "dlib_ref")


def preprocess(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{"input": float32 (1, 3, H, W)}``, the MMOD detector's tensor for ``image``."""
    from faceport.detect.mmod import MMODDetector

    tensor, layout = MMODDetector(graph).to_tensor(np.ascontiguousarray(image))
    if not layout.rects:
        raise FaceportError(
            "image too small for the MMOD input pyramid", found=tuple(image.shape[:2])
        )
    return {graph.inputs[0].name: tensor}


def layer_map(graph: Graph) -> dict[int, str]:
    """dlib layer index -> faceport tensor name (node ``<kind>_<index>``)."""
    mapping: dict[int, str] = {}
    for node in graph.nodes:
        match = _LAYER_INDEX.search(node.name)
        if match is None or len(node.outputs) != 1:
            continue
        mapping[int(match.group(1))] = node.outputs[0]
    return mapping


def _write_ppm(path: Path, image: np.ndarray) -> None:
    rgb = np.ascontiguousarray(image, dtype=np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    header = f"P6\n{rgb.shape[1]} {rgb.shape[0]}\n255\n".encode("ascii")
    path.write_bytes(header + rgb.tobytes())


class DlibCppRunner(Runner):
    """dlib's C++ forward pass, every layer tapped (``dlib_ref dump-mmod MODEL IMAGE DIR 0``).

    Feed: ``{"@image": uint8 (H, W, 3) RGB}`` (dlib builds its own tensor). Outputs: the
    graph outputs, or ``taps`` (faceport tensor names; the graph input name gives dlib's
    ``to_tensor`` result). Arrays are float32 (N, K, R, C) as dlib's ``tensor`` stores them.
    """

    name = "dlib-cpp"

    def __init__(self, graph: Graph, source: Path, taps: Sequence[str] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.source = Path(source)
        self.wanted = list(graph.outputs if taps is None else taps)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def why_unavailable(self) -> str | None:
        if (graph_loss := (self.graph.meta.get("loss") or {}).get("kind")) != "loss_mmod":
            return f"the C++ dumper runs MMOD detectors only (this loss: {graph_loss})"
        if self.source.suffix.lower() != ".dat":
            return "the C++ dumper reads serialized .dat networks (net_to_xml cannot be loaded)"
        if not dumper_path().is_file():
            return f"dlib C++ dumper {dumper_path()} not built: run `make dlib-ref`"
        return None

    def activate(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="faceport-dlibref-")

    def run(self, feed: Feed) -> Outputs:
        assert self._tmp is not None
        folder = Path(self._tmp.name)
        image_path, out_dir = folder / "image.ppm", folder / "dump"
        _write_ppm(image_path, feed["@image"])
        command = [
            str(dumper_path()),
            "dump-mmod",
            str(self.source),
            str(image_path),
            str(out_dir),
            "0",
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=DUMP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise FaceportError(f"dlib_ref timed out after {DUMP_TIMEOUT_S:g} s") from None
        if done.returncode != 0:
            raise FaceportError(
                f"dlib_ref dump-mmod failed (status {done.returncode}): {done.stderr[-1500:]}"
            )
        index = json.loads((out_dir / "index.json").read_text())
        by_name: dict[str, Path] = {self.graph.inputs[0].name: out_dir / index["input"]["file"]}
        mapping = layer_map(self.graph)
        for layer in index["layers"]:
            name = mapping.get(int(layer["idx"]))
            if name is not None:
                by_name[name] = out_dir / layer["file"]
        for node in self.graph.nodes:  # the loss passes on the scores of the layer below
            if node.op.startswith("loss_") and node.inputs[0] in by_name:
                by_name[node.outputs[0]] = by_name[node.inputs[0]]
        return {
            name: np.load(by_name[name], allow_pickle=False).astype(np.float32)
            for name in self.wanted
            if name in by_name
        }

    def deactivate(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def reference_runner(
    graph: Graph, source: Path, taps: Sequence[str] | None = None
) -> Runner | None:
    """dlib's C++ library on the raw image (``None`` for non-MMOD networks)."""
    if (graph.meta.get("loss") or {}).get("kind") != "loss_mmod":
        return None
    return DlibCppRunner(graph, source, taps)


class DlibPythonDetector(Detector):
    """``dlib.cnn_face_detection_model_v1(source)(image, upsample_num_times)`` as a Detector."""

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self._runners: dict[int, Any] = {}

    def __call__(self, image: np.ndarray, **options: Any) -> Detections:
        from faceport.verify.runners.dlib_python import DlibMMODRunner

        upsample = int(options.pop("upsample_num_times", 0))
        options.pop("adjust_threshold", None)
        runner = self._runners.get(upsample)
        if runner is None:
            runner = DlibMMODRunner(self.source, upsample_num_times=upsample)
            runner.__enter__()
            self._runners[upsample] = runner
        out = runner.infer({"image": image})
        order = np.argsort(-out["scores"], kind="stable")
        return Detections(out["boxes"][order], out["scores"][order])


def reference_detector(source: Path) -> Detector | None:
    """dlib-bin's own MMOD pipeline, or ``None`` when dlib cannot be imported."""
    from faceport.verify.runners.dlib_python import DlibMMODRunner

    if DlibMMODRunner(source).why_unavailable() is not None:
        return None
    return DlibPythonDetector(source)
