"""Verification hooks of the MXNet family (``MXNetFamily`` delegates here).

* :func:`preprocess`: :meth:`faceport.detect.retinaface.RetinaFaceDetector.preprocess` with
  the graph's recorded settings (insightface ``net3``: RGB, ``(pixel / scale - mean) / std``).
* :func:`reference_runner`: the checkpoint run by real MXNet in ``.venv-mxnet``
  (:class:`faceport.verify.runners.mxnet_ref.MXNetRunner`). A faceport tensor is the output of
  the symbol node its IR node came from (``Node.source.key`` = ``nodes[i]``), so taps are
  requested by that node's MXNet name and returned under the faceport name.
* :func:`reference_detector`: MXNet's raw outputs decoded by faceport's insightface decode
  (:func:`faceport.detect.retinaface.retinaface_proposals`), so only the network differs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from faceport.converters import Detector
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner

_NODE_KEY = re.compile(r"^nodes\[(\d+)\]$")


def _settings(graph: Graph) -> SimpleNamespace:
    """The attributes ``RetinaFaceDetector.preprocess`` reads, from ``meta["preprocess"]``."""
    pre = graph.meta.get("preprocess") or {}
    if pre.get("color", "RGB") != "RGB":
        raise FaceportError("MXNet graph expects non-RGB input", found=pre.get("color"))
    return SimpleNamespace(
        means=np.asarray(pre.get("mean", (0.0, 0.0, 0.0)), dtype=np.float32).reshape(3, 1, 1),
        stds=np.asarray(pre.get("std", (1.0, 1.0, 1.0)), dtype=np.float32).reshape(3, 1, 1),
        pixel_scale=float(pre.get("scale", 1.0)),
    )


def preprocess(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W)}`` as the RetinaFace detector builds it."""
    from faceport.detect.retinaface import RetinaFaceDetector

    if graph.meta.get("model") != "retinaface":
        raise FaceportError(
            "no preprocessing is recorded for this MXNet model (only RetinaFace's is known)",
            hint="compare on random tensors with faceport's API instead",
        )
    tensor = RetinaFaceDetector.preprocess(_settings(graph), image)  # type: ignore[arg-type]
    return {graph.inputs[0].name: tensor}


def _checkpoint(graph: Graph, source: Path) -> tuple[Path, Path]:
    from faceport.converters.mxnet.family import checkpoint_files

    names = [s.get("file", "") for s in graph.meta.get("sources") or ()]
    params = [n for n in names if n.endswith(".params")]
    symbol, default = checkpoint_files(source)
    if params and (symbol.parent / params[0]).is_file():
        return symbol, symbol.parent / params[0]
    return symbol, default


def mxnet_names(graph: Graph, symbol: Path) -> dict[str, str]:
    """faceport tensor name -> the MXNet node name whose output it is (single-output nodes)."""
    try:
        nodes = json.loads(symbol.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FaceportError(
            f"cannot read the symbol's node list: {exc}", file=str(symbol)
        ) from None
    names: dict[str, str] = {}
    for node in graph.nodes:
        match = _NODE_KEY.match(node.source.key or "")
        if match is None or len(node.outputs) != 1 or int(match.group(1)) >= len(nodes):
            continue
        entry = nodes[int(match.group(1))]
        if isinstance(entry, dict) and entry.get("op") not in (None, "null"):
            names[node.outputs[0]] = str(entry.get("name"))
    return names


class MXNetGraphRunner(Runner):
    """Real MXNet on the graph's feed; outputs (or ``taps``) keyed by faceport's names."""

    name = "mxnet-cpu"

    def __init__(self, graph: Graph, source: Path, taps: Sequence[str] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.source = Path(source)
        self.taps = None if taps is None else list(taps)
        self._inner: Any = None
        self._names: dict[str, str] = {}

    def why_unavailable(self) -> str | None:
        from faceport.verify.runners.mxnet_ref import why_mxnet_unavailable

        return why_mxnet_unavailable()

    def activate(self) -> None:
        from faceport.verify.runners.mxnet_ref import MXNetRunner

        symbol, params = _checkpoint(self.graph, self.source)
        wanted = None
        if self.taps is not None:
            known = mxnet_names(self.graph, symbol)
            self._names = {known[t]: t for t in self.taps if t in known}
            wanted = list(self._names)
        self._inner = MXNetRunner(symbol, params, outputs=wanted, name=self.name)
        self._inner.__enter__()

    def run(self, feed: Feed) -> Outputs:
        inputs = {s.name: np.asarray(feed[s.name], dtype=np.float32) for s in self.graph.inputs}
        out = self._inner.infer(inputs)
        if self.taps is None:
            return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
        return {self._names[k]: np.asarray(v, dtype=np.float32) for k, v in out.items()}

    def deactivate(self) -> None:
        if self._inner is not None:
            self._inner.__exit__(None, None, None)
            self._inner = None


def reference_runner(graph: Graph, source: Path, taps: Sequence[str] | None = None) -> Runner:
    return MXNetGraphRunner(graph, source, taps)


class MXNetRetinaFaceDetector(Detector):
    """insightface's ``RetinaFace.detect`` with MXNet computing the network."""

    def __init__(self, graph: Graph, source: Path) -> None:
        self.graph = graph
        self.runner = MXNetGraphRunner(graph, source)
        self._entered = False

    def __call__(
        self,
        image: np.ndarray,
        threshold: float = 0.5,
        nms: float = 0.4,
        scales: Sequence[float] | None = None,
        **options: Any,
    ) -> Detections:
        from faceport.detect.retinaface import detect_multiscale

        if not self._entered:
            self.runner.__enter__()
            self._entered = True
        return detect_multiscale(
            lambda im: self.runner.infer(preprocess(self.graph, im)), image, threshold, nms, scales
        )


def reference_detector(graph: Graph, source: Path) -> Detector | None:
    """MXNet + the insightface decode, or ``None`` (not RetinaFace, or no MXNet here)."""
    if graph.meta.get("model") != "retinaface":
        return None
    if MXNetGraphRunner(graph, source).why_unavailable() is not None:
        return None
    return MXNetRetinaFaceDetector(graph, source)
