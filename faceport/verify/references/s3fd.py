"""Reference ``s3fd-reference``: an independent S3FD written from the paper.

* :class:`S3FDReferenceRunner`: the reference network (:mod:`faceport.verify.references.
  s3fd_model`: a plain ``nn.Module`` written from the paper and SFD_pytorch's layer list, not
  from faceport's IR) loaded with the checkpoint's canonical state dict. Its
  submodules carry SFD_pytorch's names, which are faceport's node names, so taps are forward
  hooks on the submodules of the same name (convolutions and L2Norms; its ReLUs and pools
  are functional and cannot be tapped).
* :class:`S3FDReferenceDetector`: the reference's own SFD_pytorch ``detect`` loop
  (per-anchor decode, classic NMS), sharing nothing with :mod:`faceport.detect.s3fd`. It takes
  no options: SFD_pytorch's loop has its thresholds fixed (0.05 candidates, NMS 0.3, 0.5).

The feed is the S3FD kind's own (BGR minus the recorded mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner
from faceport.detect.base import DetectOptions, Detector
from faceport.detect.types import Detections
from faceport.ir import Graph


def reference_model(source: Path) -> Any:
    """The reference ``nn.Module`` with the checkpoint's weights (read without unpickling
    code: faceport's safe reader, then the canonical key mapping)."""
    from faceport.converters.s3fd.layout import map_state_dict
    from faceport.converters.s3fd.pth_reader import read_checkpoint

    mapped = map_state_dict(read_checkpoint(source).obj, file=str(source))
    from faceport.verify.references.s3fd_model import reference_model as build

    return build(mapped.params)


class S3FDReferenceRunner(Runner):
    """The reference network on the graph feed; outputs by faceport's head names."""

    name = "s3fd-reference"
    timeout_enforced = True

    def __init__(self, graph: Graph, source: Path, taps: Sequence[str] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.source = Path(source)
        self.taps = None if taps is None else list(taps)
        self._model: Any = None

    def why_unavailable(self) -> str | None:
        return None if self.source.is_file() else f"no such checkpoint {self.source}"

    def activate(self) -> None:
        self._model = reference_model(self.source)

    def run(self, feed: Feed) -> Outputs:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(feed[self.graph.inputs[0].name], np.float32))
        tapped: dict[str, np.ndarray] = {}
        handles = []
        modules = dict(self._model.named_modules())
        for name in self.taps or ():
            if name and name in modules:
                handles.append(modules[name].register_forward_hook(_saver(tapped, name)))
        try:
            with torch.no_grad():
                outs = self._model(x)
        finally:
            for handle in handles:
                handle.remove()
        heads = {n: o.numpy() for n, o in zip(self.graph.outputs, outs)}
        if self.taps is None:
            return heads
        merged = tapped | heads
        return {n: merged[n] for n in self.taps if n in merged}

    def deactivate(self) -> None:
        self._model = None


def _saver(store: dict[str, np.ndarray], name: str) -> Any:
    def hook(module: Any, args: Any, output: Any) -> None:
        store[name] = output.detach().numpy().copy()

    return hook


class S3FDReferenceDetector(Detector):
    """SFD_pytorch's detect loop on the reference network."""

    title = "S3FD reference detector"

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self._model: Any = None

    def why_unavailable(self) -> str | None:
        return None if self.source.is_file() else f"no such checkpoint {self.source}"

    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        from faceport.verify.references.s3fd_model import reference_detect

        if self._model is None:
            self._model = reference_model(self.source)
        rows = reference_detect(self._model, np.ascontiguousarray(image))
        order = np.argsort(-rows[:, 4], kind="stable")
        return Detections(rows[order, :4].astype(np.float64), rows[order, 4].astype(np.float64))

    def close(self) -> None:
        self._model = None


def runner(
    graph: Graph, source: Path, taps: Sequence[str] | None = None, *, timeout: float | None = None
) -> Runner:
    """The in-process reference (``timeout`` cannot interrupt it: it is torch on this CPU, as
    fast as faceport's own graph, and is not enforced: the report says so)."""
    made = S3FDReferenceRunner(graph, source, taps)
    made.timeout_enforced = False
    return made


def detector(graph: Graph, source: Path) -> Detector:
    return S3FDReferenceDetector(source)
