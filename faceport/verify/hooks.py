"""The Family verification hooks, with the per-family modules as fall-back.

A family may implement ``preprocess`` / ``reference_runner`` / ``reference_detector`` itself
(usually a one-line delegation to ``faceport.verify.hooks_<family>``); where it still has the
base class's default, the matrix calls that module directly. ``reference_detector`` of the
module gets the graph too (MXNet needs it to decode).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from faceport.converters import Detector, Family
from faceport.ir import Graph
from faceport.verify.runners.base import Runner

MODULES = {
    "dlib": "faceport.verify.hooks_dlib",
    "mxnet": "faceport.verify.hooks_mxnet",
    "s3fd": "faceport.verify.hooks_s3fd",
}


def _own(fam: Family, method: str) -> bool:
    """True when ``fam``'s class overrides the base :class:`Family` method."""
    return getattr(type(fam), method) is not getattr(Family, method)


def _module(fam: Family) -> ModuleType | None:
    name = MODULES.get(fam.name)
    return None if name is None else importlib.import_module(name)


def preprocess(fam: Family, graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """The graph feed for uint8 RGB ``image`` (NotImplementedError when none is defined)."""
    module = _module(fam)
    if _own(fam, "preprocess") or module is None:
        return fam.preprocess(graph, image)
    result: dict[str, np.ndarray] = module.preprocess(graph, image)
    return result


def reference_runner(
    fam: Family, graph: Graph, source: Path, taps: Sequence[str] | None = None
) -> Runner | None:
    module = _module(fam)
    if _own(fam, "reference_runner") or module is None:
        return fam.reference_runner(graph, source, taps=None if taps is None else list(taps))
    runner: Runner | None = module.reference_runner(graph, source, taps)
    return runner


def reference_detector(fam: Family, graph: Graph, source: Path) -> Detector | None:
    module = _module(fam)
    if _own(fam, "reference_detector") or module is None:
        return fam.reference_detector(source)
    fn: Any = module.reference_detector
    detector: Detector | None = fn(graph, source) if fam.name == "mxnet" else fn(source)
    return detector
