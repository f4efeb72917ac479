"""Verification hooks of the S3FD family (``S3FDFamily`` delegates here).

* :func:`preprocess`: :func:`faceport.detect.s3fd.preprocess` (BGR minus (104, 117, 123),
  no scaling) with the graph's recorded mean.
* :func:`reference_runner`: the independent S3FD reference (``tests/reference/
  s3fd_reference.py``: a plain ``nn.Module`` written from the paper and SFD_pytorch's layer
  list, not from faceport's IR) loaded with the checkpoint's canonical state dict. Its
  submodules carry SFD_pytorch's names, which are faceport's node names, so taps are forward
  hooks on the submodules of the same name (convolutions and L2Norms; its ReLUs and pools
  are functional and cannot be tapped).
* :func:`reference_detector`: the reference's own SFD_pytorch ``detect`` loop (per-anchor
  decode, classic NMS), sharing nothing with :mod:`faceport.detect.s3fd`.

The reference lives in the source checkout (it is test code); elsewhere the hooks report it
unavailable.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from faceport.converters import Detector
from faceport.detect.types import Detections
from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "reference" / "s3fd_reference.py"
_MODULE = "faceport_s3fd_reference"


def preprocess(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """``{input: float32 (1, 3, H, W)}``: the S3FD detector's input for ``image``."""
    from faceport.detect.s3fd import preprocess as s3fd_preprocess

    mean = tuple(graph.meta.get("preprocess", {}).get("mean", (104.0, 117.0, 123.0)))
    return {graph.inputs[0].name: s3fd_preprocess(image, mean)}


def why_unavailable() -> str | None:
    if not REFERENCE.is_file():
        return f"the S3FD reference {REFERENCE} is missing (run from a faceport source checkout)"
    return None


def reference_module() -> ModuleType:
    """``tests/reference/s3fd_reference.py`` loaded by path (imports numpy and torch only)."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    spec = importlib.util.spec_from_file_location(_MODULE, REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE] = module
    spec.loader.exec_module(module)
    return module


def reference_model(source: Path) -> Any:
    """The reference ``nn.Module`` with the checkpoint's weights (read without unpickling
    code: faceport's safe reader, then the canonical key mapping)."""
    from faceport.converters.s3fd.layout import map_state_dict
    from faceport.converters.s3fd.pth_reader import read_checkpoint

    mapped = map_state_dict(read_checkpoint(source).obj, file=str(source))
    return reference_module().reference_model(mapped.params)


class S3FDReferenceRunner(Runner):
    """The reference network on the graph feed; outputs by faceport's head names."""

    name = "s3fd-reference"

    def __init__(self, graph: Graph, source: Path, taps: Sequence[str] | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.source = Path(source)
        self.taps = None if taps is None else list(taps)
        self._model: Any = None

    def why_unavailable(self) -> str | None:
        return why_unavailable()

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


def reference_runner(graph: Graph, source: Path, taps: Sequence[str] | None = None) -> Runner:
    return S3FDReferenceRunner(graph, source, taps)


class S3FDReferenceDetector(Detector):
    """SFD_pytorch's detect loop on the reference network."""

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self._model: Any = None

    def __call__(self, image: np.ndarray, **options: Any) -> Detections:
        if self._model is None:
            self._model = reference_model(self.source)
        rows = reference_module().reference_detect(self._model, np.ascontiguousarray(image))
        order = np.argsort(-rows[:, 4], kind="stable")
        return Detections(rows[order, :4].astype(np.float64), rows[order, 4].astype(np.float64))


def reference_detector(source: Path) -> Detector | None:
    return None if why_unavailable() is not None else S3FDReferenceDetector(source)
