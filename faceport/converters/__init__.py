"""Readers: bytes of a source model -> the common IR (:class:`faceport.ir.Graph`).

Each family (``dlib``, ``mxnet``, ``s3fd``) provides a :class:`Family` in
``faceport.converters.<name>.family``; :func:`convert` picks the family by sniffing the file.
"""

from __future__ import annotations

import abc
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.errors import FaceportError

if TYPE_CHECKING:
    import numpy as np

    from faceport.detect.types import Detections
    from faceport.ir import Graph
    from faceport.verify.runners.base import Runner

FAMILY_MODULES = {
    "dlib": "faceport.converters.dlib.family",
    "mxnet": "faceport.converters.mxnet.family",
    "s3fd": "faceport.converters.s3fd.family",
}


class Detector(abc.ABC):
    """A whole detector: image in, :class:`~faceport.detect.types.Detections` out."""

    @abc.abstractmethod
    def __call__(self, image: np.ndarray, **options: Any) -> Detections:
        """``image``: uint8 (H, W, 3) in **RGB** order; the detector converts if needed."""


class Family(abc.ABC):
    """One source family: how to recognise, read and use its models."""

    name: str = ""
    #: what ``sniff`` looks for, for error messages
    description: str = ""

    @abc.abstractmethod
    def sniff(self, path: Path) -> bool:
        """Cheap check (extension, magic bytes) that ``path`` belongs to this family."""

    @abc.abstractmethod
    def convert(self, path: Path, **options: Any) -> Graph:
        """Read ``path`` into a validated IR graph (``meta`` filled with the source sha256)."""

    def detector(self, graph: Graph, *, device: str = "cpu") -> Detector | None:
        """A detector over the converted graph, or ``None`` when the model is not one."""
        return None

    # -- verification hooks (faceport.verify.matrix) -------------------------------------
    def preprocess(self, graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
        """The graph inputs the family's pipeline feeds for ``image`` (uint8 RGB HxWx3)."""
        raise NotImplementedError(f"{self.name}: no preprocessing defined")

    def reference_runner(
        self, graph: Graph, source: Path, *, taps: list[str] | None = None
    ) -> Runner | None:
        """The source framework on the same feed (``feed["@image"]`` holds the raw image),
        returning the graph outputs (or ``taps``: node names); ``None`` if there is none."""
        return None

    def reference_detector(self, source: Path) -> Detector | None:
        """The source framework's own detection pipeline, or ``None``."""
        return None


def family(name: str) -> Family:
    """The :class:`Family` object called ``name``."""
    module = FAMILY_MODULES.get(name)
    if module is None:
        raise FaceportError(f"unknown family {name!r}; known: {', '.join(FAMILY_MODULES)}")
    found: Family = importlib.import_module(module).FAMILY
    return found


def sniff(path: str | os.PathLike[str]) -> Family:
    """The family whose reader accepts ``path`` (a converted ``.safetensors`` is not one)."""
    p = Path(path)
    for name in FAMILY_MODULES:
        try:
            fam = family(name)
        except ImportError:  # family not built in this installation
            continue
        if fam.sniff(p):
            return fam
    if not p.exists():  # a checkpoint prefix (MXNet) was tried above
        raise FaceportError("no such file", file=str(p))
    known = "; ".join(f"{n}: {family(n).description}" for n in FAMILY_MODULES if _importable(n))
    raise FaceportError("cannot tell which framework wrote this file", file=str(p), hint=known)


def convert(path: str | os.PathLike[str], **options: Any) -> Graph:
    """Read any supported source model into the IR."""
    return sniff(path).convert(Path(path), **options)


def load_any(path: str | os.PathLike[str], **options: Any) -> Graph:
    """A converted model (``.safetensors``) or any source model, as an IR graph."""
    from faceport import serialize

    p = Path(path)
    if p.suffix == serialize.SUFFIX:
        return serialize.load(p)
    return convert(p, **options)


def _importable(name: str) -> bool:
    try:
        family(name)
    except ImportError:
        return False
    return True
