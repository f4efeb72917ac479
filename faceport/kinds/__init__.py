"""The model-kind registry: one record per kind of model, read by every layer.

A :class:`ModelKind` bundles what each layer needs to handle one kind of model (dlib MMOD
detector, RetinaFace, S3FD, face descriptor, classifier, plain network): which reader family
produces it, how it is recognised from the typed :class:`~faceport.modelinfo.ModelInfo`, the
defaults it completes that info with, what its outputs mean, how an image becomes its feed,
its detector, its whole-detector export builder, its fp16 float32-node rule, its reference
runners (names in :mod:`faceport.verify.references`) and how verify compares its results.

Layers above point into this record; the record points up only by *name* (``"module:attr"``
strings resolved on use by the layer that owns them), so importing :mod:`faceport.kinds`
imports no detector, exporter or verifier. Adding a kind is one file in this package plus one
line in :data:`KIND_MODULES` (before ``network``, the catch-all).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from faceport.errors import FaceportError, InternalError
from faceport.modelinfo import ModelInfo, info_from_meta

if TYPE_CHECKING:
    import numpy as np

    from faceport.detect.base import Detector
    from faceport.ir import Graph

#: recognition order: the first kind whose ``recognise`` accepts a graph is its kind
KIND_MODULES = (
    "faceport.kinds.mmod",
    "faceport.kinds.retinaface",
    "faceport.kinds.s3fd",
    "faceport.kinds.descriptor",
    "faceport.kinds.classifier",
    "faceport.kinds.network",
)
COMPARISONS = ("detections", "descriptors", "classes", "tensors")


def _no_completion(info: ModelInfo, graph: Graph) -> ModelInfo:
    return info


@dataclass(frozen=True)
class ModelKind:
    """One kind of model. Pointers are ``"module:attr"`` strings (see the module doc)."""

    name: str
    title: str
    #: reader families that produce it (empty: any)
    families: tuple[str, ...]
    recognise: Callable[[ModelInfo, Graph], bool]
    outputs_meaning: str
    #: how verify compares the source framework and faceport beyond raw tensors
    comparison: str = "tensors"
    #: fills kind-specific defaults the reader cannot know (RetinaFace's preprocessing)
    complete: Callable[[ModelInfo, Graph], ModelInfo] = _no_completion
    #: ``(graph, image uint8 RGB (H, W, 3)) -> {input name: float32 array}``
    feed: str | None = None
    #: ``Detector`` subclass taking ``(graph, device)``
    detector: str | None = None
    #: module with ``build(net, graph) -> (nn.Module, info)`` (whole-detector export)
    export_builder: str | None = None
    #: ``(graph, onnx model, net_prefix) -> [node names kept float32 in fp16 exports]``
    fp16_fp32_nodes: str | None = None
    #: reference names (``faceport.verify.references``): raw outputs / per-layer taps
    reference_runner: str | None = None
    #: reference names: the source framework's own detector
    reference_detector: str | None = None

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise InternalError(f"kind {self.name}: unknown comparison {self.comparison!r}")

    @property
    def is_detector(self) -> bool:
        return self.detector is not None


_KINDS: dict[str, ModelKind] = {}


def _load() -> dict[str, ModelKind]:
    if not _KINDS:
        for module_name in KIND_MODULES:
            kind: ModelKind = importlib.import_module(module_name).KIND
            if kind.name in _KINDS:
                raise InternalError(f"model kind {kind.name!r} registered twice ({module_name})")
            _KINDS[kind.name] = kind
    return _KINDS


def all_kinds() -> list[ModelKind]:
    """Every registered kind, in recognition order."""
    return list(_load().values())


def get(name: str) -> ModelKind:
    """The kind called ``name`` (a :class:`FaceportError` lists the known ones)."""
    kinds = _load()
    if name not in kinds:
        raise FaceportError(f"unknown model kind {name!r}", expected=sorted(kinds), found=name)
    return kinds[name]


def resolve(pointer: str) -> Any:
    """The object a ``"module:attr"`` pointer names."""
    module_name, _, attr = pointer.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def classify(info: ModelInfo, graph: Graph) -> ModelKind:
    """The first kind that recognises ``graph`` (``network`` accepts anything)."""
    for kind in all_kinds():
        if (not kind.families or info.family in kind.families) and kind.recognise(info, graph):
            return kind
    raise InternalError("no model kind recognised the graph (the catch-all is missing)")


def info_of(graph: Graph) -> ModelInfo:
    """``graph.info`` when the reader set it, else derived from ``graph.meta`` (graphs built
    by hand, files written by faceport 0.1.0) and classified."""
    if graph.info is not None and graph.info.kind:
        return graph.info
    info = graph.info or info_from_meta(graph.framework, graph.meta, graph.inputs)
    kind = classify(info, graph)
    return kind.complete(replace(info, kind=kind.name), graph)


def with_info(graph: Graph, sources: Sequence[str | os.PathLike[str]] = ()) -> Graph:
    """``graph`` with its typed, classified :class:`ModelInfo` attached; a reader passes the
    ``sources`` it read (in the order of ``info.sources``) so the paths are recorded."""
    info = info_of(graph)
    return replace(graph, info=info.located(sources) if sources else info)


def kind_of(graph: Graph) -> ModelKind:
    return get(info_of(graph).kind)


def detector(graph: Graph, *, device: str = "cpu") -> Detector | None:
    """A detector over ``graph`` (``None`` when its kind is not a detector)."""
    kind = kind_of(graph)
    if kind.detector is None:
        return None
    made: Detector = resolve(kind.detector)(graph, device=device)
    return made


def feed(graph: Graph, image: np.ndarray) -> dict[str, np.ndarray]:
    """The network feed the kind's own pipeline builds for a uint8 RGB ``image``."""
    kind = kind_of(graph)
    if kind.feed is None:
        raise FaceportError(
            f"no image preprocessing is known for a {kind.title}",
            hint="compare on tensors with faceport's Python API instead",
        )
    result: dict[str, np.ndarray] = resolve(kind.feed)(graph, image)
    return result
