"""Typed model information: what every layer needs to *use* a network, beside its ops.

A :class:`ModelInfo` travels with a :class:`~faceport.ir.Graph` (``Graph.info``) and in every
converted file (``"info"`` in the structure JSON, with a ``version``). It holds:

* ``family`` (the reader that produced the graph) and ``kind`` (the model-kind registry key,
  :mod:`faceport.kinds`: ``mmod``, ``retinaface``, ``s3fd``, ``descriptor``, ``classifier``,
  ``network``);
* ``sources``: the source files with their sha256;
* ``input``: the network input (name, shape, the source's input layer, a required fixed size,
  dlib's tiled pyramid);
* ``preprocess``: how pixels become the input tensor, one formula for every family:
  ``input = (pixel / pixel_scale - mean) / std`` per channel, channels in ``color`` order;
* ``head``: the source's head/loss record (``kind`` plus its options as the reader found them;
  the model kind parses them into its own typed options, e.g. ``MMODOptions``).

``Graph.meta`` stays the reader's free-form notes (format facts, repairs, assumptions,
unused parameters): shown by ``inspect``, never read by another layer.

Readers record their facts in ``meta`` in the shapes faceport 0.1.0 wrote (dlib ``input`` =
``{kind, r, g, b, nr, nc, pyramid_*}`` and ``loss``; MXNet ``sources``/``preprocess``/
``strides``; S3FD ``preprocess``/``detector``). :func:`info_from_meta` is the one mapping from
those facts to a :class:`ModelInfo`: readers call it at convert time, and loading a file
written before ``info`` existed calls it too (the migration).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faceport.errors import FormatError

INFO_VERSION = 1
COLORS = ("RGB", "BGR")


@dataclass(frozen=True)
class SourceFile:
    """One file the model was read from (a checkpoint can have two): its name, sha256 and
    the absolute path it was read from (``""`` when unknown), which ``verify`` uses to find
    the source again. Exports record name and sha256 only (:meth:`ModelInfo.portable`)."""

    file: str
    sha256: str = ""
    path: str = ""

    def to_json(self) -> dict[str, str]:
        data = {"file": self.file, "sha256": self.sha256}
        if self.path:
            data["path"] = self.path
        return data


@dataclass(frozen=True)
class Preprocess:
    """``input = (pixel / pixel_scale - mean) / std`` per channel, channels in ``color``
    order, laid out as ``layout``. dlib: RGB, mean = the input layer's averages, std 256;
    insightface RetinaFace: RGB, 0/1/1; S3FD: BGR minus (104, 117, 123)."""

    color: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pixel_scale: float = 1.0
    layout: str = "NCHW"
    note: str = ""

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise FormatError("unknown colour order", field="info.preprocess.color",
                              expected=list(COLORS), found=self.color)  # fmt: skip
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) != 3 or not all(math.isfinite(float(v)) for v in values):
                raise FormatError(f"preprocess {name} must be 3 finite numbers",
                                  field=f"info.preprocess.{name}", found=list(values))  # fmt: skip
        if not (math.isfinite(self.pixel_scale) and self.pixel_scale > 0) or 0.0 in self.std:
            raise FormatError("preprocess scale and std must be non-zero",
                              field="info.preprocess", found=(self.pixel_scale, self.std))

    def to_json(self) -> dict[str, Any]:
        return {"color": self.color, "mean": list(self.mean), "std": list(self.std),
                "pixel_scale": self.pixel_scale, "layout": self.layout, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Preprocess:
        return cls(
            color=str(data.get("color", "")),
            mean=_triple(data.get("mean"), "info.preprocess.mean"),
            std=_triple(data.get("std", (1.0, 1.0, 1.0)), "info.preprocess.std"),
            pixel_scale=_float(data.get("pixel_scale", 1.0), "info.preprocess.pixel_scale"),
            layout=str(data.get("layout", "NCHW")),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class Pyramid:
    """dlib ``input_rgb_image_pyramid<pyramid_down<down>>``: levels tiled into one image with
    ``padding`` between them and ``outer_padding`` around. ``down`` is not in any dlib file
    (it is part of the C++ type); ``down_assumed`` says faceport assumed dlib's 6."""

    down: int = 6
    padding: int = 10
    outer_padding: int = 11
    down_assumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"down": self.down, "padding": self.padding,
                "outer_padding": self.outer_padding, "down_assumed": self.down_assumed}  # fmt: skip


@dataclass(frozen=True)
class InputInfo:
    """The network input: ``name`` and ``shape`` (``None`` = dynamic), ``layer`` (the source's
    input layer kind, e.g. ``input_rgb_image_pyramid``; ``""`` for a plain tensor), ``size``
    (the (H, W) the network requires, e.g. dlib ``input_rgb_image_sized<150>``)."""

    name: str
    shape: tuple[int | None, ...] = ()
    layer: str = ""
    size: tuple[int, int] | None = None
    pyramid: Pyramid | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "shape": list(self.shape), "layer": self.layer,
            "size": None if self.size is None else list(self.size),
            "pyramid": None if self.pyramid is None else self.pyramid.to_json(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputInfo:
        size = data.get("size")
        pyramid = data.get("pyramid")
        return cls(
            name=str(data.get("name", "")),
            shape=tuple(None if d is None else _int(d, "info.input.shape")
                        for d in _list(data.get("shape", []), "info.input.shape")),
            layer=str(data.get("layer", "")),
            size=None if size is None else _pair(size, "info.input.size"),
            pyramid=None if pyramid is None else Pyramid(
                down=_int(_map(pyramid, "info.input.pyramid").get("down", 6), "pyramid.down"),
                padding=_int(pyramid.get("padding", 10), "pyramid.padding"),
                outer_padding=_int(pyramid.get("outer_padding", 11), "pyramid.outer_padding"),
                down_assumed=bool(pyramid.get("down_assumed", False)),
            ),
        )  # fmt: skip


@dataclass(frozen=True)
class HeadInfo:
    """The source's head: ``kind`` (dlib's loss layer, ``retinaface``, ``s3fd``) and its
    options exactly as the reader found them (JSON values); the model kind types them."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "options": dict(self.options)}


@dataclass(frozen=True)
class ModelInfo:
    """Everything beside the ops that a layer needs to use the model (see the module doc)."""

    family: str = ""
    kind: str = ""
    sources: tuple[SourceFile, ...] = ()
    input: InputInfo | None = None
    preprocess: Preprocess | None = None
    head: HeadInfo | None = None
    version: int = INFO_VERSION

    @property
    def head_kind(self) -> str:
        return "" if self.head is None else self.head.kind

    def portable(self) -> ModelInfo:
        """The record without where its sources were on this machine (for exports, which
        must not depend on paths)."""
        return replace(self, sources=tuple(replace(s, path="") for s in self.sources))

    def located(self, paths: Sequence[str | os.PathLike[str]]) -> ModelInfo:
        """The record with the absolute paths its sources were read from, in order."""
        placed = tuple(replace(s, path=str(Path(p).resolve())) for s, p in zip(self.sources, paths))
        return replace(self, sources=placed + self.sources[len(placed):])

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "family": self.family, "kind": self.kind,
            "sources": [s.to_json() for s in self.sources],
            "input": None if self.input is None else self.input.to_json(),
            "preprocess": None if self.preprocess is None else self.preprocess.to_json(),
            "head": None if self.head is None else self.head.to_json(),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> ModelInfo:
        """Parse a stored record; a newer ``version`` than this release knows is refused."""
        info = _map(data, "info")
        version = _int(info.get("version"), "info.version")
        if not 1 <= version <= INFO_VERSION:
            raise FormatError("model info written by a newer faceport", field="info.version",
                              expected=f"1..{INFO_VERSION}", found=version)  # fmt: skip
        sources = _list(info.get("sources", []), "info.sources")
        head = info.get("head")
        return cls(
            family=str(info.get("family", "")),
            kind=str(info.get("kind", "")),
            sources=tuple(SourceFile(str(_map(s, "info.sources[]").get("file", "")),
                                     str(s.get("sha256", "")), str(s.get("path", "")))
                          for s in sources),
            input=None if info.get("input") is None
            else InputInfo.from_json(_map(info["input"], "info.input")),
            preprocess=None if info.get("preprocess") is None
            else Preprocess.from_json(_map(info["preprocess"], "info.preprocess")),
            head=None if head is None else HeadInfo(
                str(_map(head, "info.head").get("kind", "")),
                dict(_map(head.get("options", {}), "info.head.options")),
            ),
            version=version,
        )  # fmt: skip


# -- the one mapping from the readers' facts (0.1.0 meta shapes) ------------------------------


def info_from_meta(
    framework: str, meta: Mapping[str, Any], inputs: Sequence[Any] = (), kind: str = ""
) -> ModelInfo:
    """A :class:`ModelInfo` from a reader's ``meta`` (``kind`` is filled by the caller,
    :func:`faceport.kinds.classify`). ``inputs``: the graph's :class:`~faceport.ir.TensorSpec` s."""
    family = str(meta.get("family", framework))
    first = inputs[0] if inputs else None
    name = str(getattr(first, "name", "")) if first is not None else ""
    shape = tuple(getattr(first, "shape", ())) if first is not None else ()
    inp = meta.get("input")
    inp = inp if isinstance(inp, Mapping) else {}
    layer = str(inp.get("kind", "")) if family == "dlib" else ""
    size = None
    if _is_int(inp.get("nr")) and _is_int(inp.get("nc")) and inp["nr"] and inp["nc"]:
        size = (int(inp["nr"]), int(inp["nc"]))
    pyramid = None
    if "pyramid" in layer:
        pyramid = Pyramid(
            down=int(inp.get("pyramid_down", Pyramid.down)),
            padding=int(inp.get("pyramid_padding", Pyramid.padding)),
            outer_padding=int(inp.get("pyramid_outer_padding", Pyramid.outer_padding)),
            down_assumed=bool(inp.get("pyramid_down_assumed", False)),
        )
    return ModelInfo(
        family=family,
        kind=kind,
        sources=_sources(meta),
        input=InputInfo(name, shape, layer, size, pyramid) if first is not None else None,
        preprocess=_preprocess(meta, inp),
        head=_head(family, meta),
    )


def _sources(meta: Mapping[str, Any]) -> tuple[SourceFile, ...]:
    found = meta.get("sources")
    if isinstance(found, list):
        return tuple(SourceFile(str(s.get("file", "")), str(s.get("sha256", "")))
                     for s in found if isinstance(s, Mapping))  # fmt: skip
    source = meta.get("source")
    if isinstance(source, Mapping):
        return (SourceFile(str(source.get("file", "")), str(source.get("sha256", ""))),)
    if isinstance(source, str):
        return (SourceFile(source, str(meta.get("source_sha256", ""))),)
    return ()


def dlib_mean(inp: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """dlib input layers' channel averages (``r, g, b`` or ``avg_red, ...``), or ``None``."""
    for keys in (("r", "g", "b"), ("avg_red", "avg_green", "avg_blue")):
        if all(k in inp for k in keys):
            return (float(inp[keys[0]]), float(inp[keys[1]]), float(inp[keys[2]]))
    return None


def _preprocess(meta: Mapping[str, Any], inp: Mapping[str, Any]) -> Preprocess | None:
    pre = meta.get("preprocess")
    if isinstance(pre, Mapping):
        # 0.1.0's ``scale`` divided (insightface pixel_scale); S3FD wrote 1.0
        return Preprocess(
            color=str(pre.get("color", "RGB")),
            mean=_triple(pre.get("mean", (0.0, 0.0, 0.0)), "meta.preprocess.mean"),
            std=_triple(pre.get("std", (1.0, 1.0, 1.0)), "meta.preprocess.std"),
            pixel_scale=_float(pre.get("scale", 1.0), "meta.preprocess.scale"),
            layout=str(pre.get("layout", "NCHW")),
            note=str(pre.get("note", "")),
        )
    mean = dlib_mean(inp)
    if mean is None:
        return None
    return Preprocess(
        color="RGB", mean=mean, std=(256.0, 256.0, 256.0),
        note="dlib input layer to_tensor: (pixel - avg) / 256, planar RGB",
    )  # fmt: skip


def _head(family: str, meta: Mapping[str, Any]) -> HeadInfo | None:
    loss = meta.get("loss")
    if isinstance(loss, Mapping) and loss.get("kind"):
        return HeadInfo(str(loss["kind"]), {k: v for k, v in loss.items() if k != "kind"})
    if family == "mxnet" and meta.get("model"):
        return HeadInfo(str(meta["model"]), {"strides": list(meta.get("strides") or [])})
    if family == "s3fd" and isinstance(meta.get("detector"), Mapping):
        return HeadInfo("s3fd", dict(meta["detector"]))
    return None


# -- small checked conversions (a stored record is untrusted input) ---------------------------


def _map(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FormatError("expected an object", field=where, found=type(value).__name__)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise FormatError("expected a list", field=where, found=type(value).__name__)
    return list(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any, where: str) -> int:
    if not _is_int(value):
        raise FormatError("expected an integer", field=where, found=value)
    return int(value)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FormatError("expected a number", field=where, found=value)
    return float(value)


def _triple(value: Any, where: str) -> tuple[float, float, float]:
    items = _list(value, where)
    if len(items) != 3:
        raise FormatError("expected 3 numbers", field=where, found=items)
    return (_float(items[0], where), _float(items[1], where), _float(items[2], where))


def _pair(value: Any, where: str) -> tuple[int, int]:
    items = _list(value, where)
    if len(items) != 2:
        raise FormatError("expected 2 integers", field=where, found=items)
    return (_int(items[0], where), _int(items[1], where))
