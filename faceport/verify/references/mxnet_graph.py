"""Reference ``mxnet``: a checkpoint run by real MXNet, under faceport's tensor names.

* :class:`MXNetGraphRunner`: the checkpoint run by MXNet in ``.venv-mxnet``
  (:class:`faceport.verify.references.mxnet_venv.MXNetRunner`). A faceport tensor is the output of
  the symbol node its IR node came from (``Node.source.key`` = ``nodes[i]``), so taps are
  requested by that node's MXNet name and returned under the faceport name.
* :class:`MXNetRetinaFaceDetector`: MXNet's raw outputs decoded by faceport's insightface
  decode (:func:`faceport.detect.retinaface.detect_multiscale`), so only the network differs;
  the feed is the RetinaFace kind's own (:func:`faceport.kinds.feed`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner
from faceport.detect.base import DetectOptions, Detector, pick
from faceport.detect.types import Detections
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import feed as kind_feed
from faceport.kinds import info_of

_NODE_KEY = re.compile(r"^nodes\[(\d+)\]$")


def _checkpoint(graph: Graph, source: Path) -> tuple[Path, Path]:
    """(symbol, params): the weights file recorded at conversion when it is still there,
    else the one beside ``source`` with the recorded name, else the newest epoch."""
    from faceport.converters.mxnet.family import checkpoint_files
    from faceport.serialize import sha256_file

    records = [s for s in info_of(graph).sources if s.file.endswith(".params")]
    symbol = Path(source)
    for record in records:
        for candidate in (Path(record.path) if record.path else None,
                          symbol.parent / record.file):  # fmt: skip
            if candidate is not None and candidate.is_file() and (
                not record.sha256 or sha256_file(candidate) == record.sha256
            ):
                return (symbol if symbol.is_file() else checkpoint_files(source)[0]), candidate
    return checkpoint_files(source)


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

    def __init__(
        self,
        graph: Graph,
        source: Path,
        taps: Sequence[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.source = Path(source)
        self.taps = None if taps is None else list(taps)
        self.timeout = timeout
        self._inner: Any = None
        self._names: dict[str, str] = {}

    def why_unavailable(self) -> str | None:
        from faceport.verify.references.mxnet_venv import why_mxnet_unavailable

        return why_mxnet_unavailable()

    def activate(self) -> None:
        from faceport.verify.references.mxnet_venv import MXNetRunner

        symbol, params = _checkpoint(self.graph, self.source)
        wanted = None
        if self.taps is not None:
            known = mxnet_names(self.graph, symbol)
            self._names = {known[t]: t for t in self.taps if t in known}
            wanted = list(self._names)
        from faceport.verify.references.mxnet_venv import DEFAULT_TIMEOUT_S

        self._inner = MXNetRunner(symbol, params, outputs=wanted, name=self.name,
                                  timeout=self.timeout or DEFAULT_TIMEOUT_S)  # fmt: skip
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


class MXNetRetinaFaceDetector(Detector):
    """insightface's ``RetinaFace.detect`` with MXNet computing the network."""

    title = "MXNet RetinaFace detector"
    takes = frozenset({"score_threshold", "nms_iou", "scales"})

    def __init__(self, graph: Graph, source: Path) -> None:
        self.graph = graph
        self.runner = MXNetGraphRunner(graph, source)
        self._entered = False

    def why_unavailable(self) -> str | None:
        return self.runner.why_unavailable()

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        from faceport.detect.retinaface import (
            DEFAULT_NMS,
            DEFAULT_THRESHOLD,
            configs_for,
            detect_multiscale,
        )

        if not self._entered:
            self.runner.__enter__()
            self._entered = True
        return detect_multiscale(
            lambda im: self.runner.infer(kind_feed(self.graph, im)), image,
            float(pick(options.score_threshold, DEFAULT_THRESHOLD)),
            float(pick(options.nms_iou, DEFAULT_NMS)), options.scales,
            configs=configs_for(self.graph),
        )  # fmt: skip

    def close(self) -> None:
        if self._entered:
            self.runner.__exit__(None, None, None)
            self._entered = False


def runner(
    graph: Graph, source: Path, taps: Sequence[str] | None = None, *, timeout: float | None = None
) -> Runner:
    return MXNetGraphRunner(graph, source, taps, timeout=timeout)


def detector(graph: Graph, source: Path) -> Detector:
    return MXNetRetinaFaceDetector(graph, source)
