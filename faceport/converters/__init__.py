"""Readers: bytes of a source model -> the common IR (:class:`faceport.ir.Graph`).

Each family (``dlib``, ``mxnet``, ``s3fd``) provides a :class:`Family` in
``faceport.converters.<name>.family``; :func:`convert` picks the family by sniffing the file.
A family only reads: what a model *is* and how it is used (detector, preprocessing, export,
references) is its model kind's business (:mod:`faceport.kinds`); a reader attaches the typed
:class:`~faceport.modelinfo.ModelInfo` with :func:`faceport.kinds.with_info`.
"""

from __future__ import annotations

import abc
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.errors import FaceportError

if TYPE_CHECKING:
    from faceport.ir import Graph

#: family name -> module defining ``FAMILY``; adding a framework is one folder + one line here
FAMILY_MODULES = {
    "dlib": "faceport.converters.dlib.family",
    "mxnet": "faceport.converters.mxnet.family",
    "s3fd": "faceport.converters.s3fd.family",
}


class Family(abc.ABC):
    """One source family: how to recognise and read its files."""

    name: str = ""
    #: what ``sniff`` looks for, for error messages
    description: str = ""

    @abc.abstractmethod
    def sniff(self, path: Path) -> bool:
        """Cheap check (extension, magic bytes) that ``path`` belongs to this family."""

    @abc.abstractmethod
    def convert(self, path: Path, **options: Any) -> Graph:
        """Read ``path`` into a validated IR graph with its :class:`ModelInfo` attached."""


def family(name: str) -> Family:
    """The :class:`Family` object called ``name``."""
    module = FAMILY_MODULES.get(name)
    if module is None:
        raise FaceportError(f"unknown family {name!r}; known: {', '.join(FAMILY_MODULES)}")
    found: Family = importlib.import_module(module).FAMILY
    return found


def model_in_folder(folder: Path) -> Path:
    """The one source model file in ``folder`` (an MXNet checkpoint counts once, by its
    symbol); a folder with none or several is a :class:`FaceportError` listing them."""
    found: list[Path] = []
    families = [family(n) for n in FAMILY_MODULES if _importable(n)]
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and any(fam.sniff(entry) for fam in families):
            found.append(entry)
    if any(f.name.endswith("-symbol.json") or f.suffix == ".json" for f in found):
        found = [f for f in found if f.suffix != ".params"]  # the symbol finds its weights
    if len(found) != 1:
        names = ", ".join(f.name for f in found[:8]) or "no model file"
        raise FaceportError(
            f"this is a folder; pass one model file ({names})" if found
            else "this is a folder, and it holds no model file", file=str(folder),
        )  # fmt: skip
    return found[0]


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
    _refuse_what_is_not_a_model(p)
    known = "; ".join(f"{n}: {family(n).description}" for n in FAMILY_MODULES if _importable(n))
    raise FaceportError("cannot tell which framework wrote this file", file=str(p), hint=known)


#: magic bytes of image formats people pass where a model goes
_IMAGES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"),
           (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))  # fmt: skip


def _refuse_what_is_not_a_model(p: Path) -> None:
    """Specific messages for a folder, an empty file, an image and an XML with a DTD."""
    if p.is_dir():
        model_in_folder(p)  # raises, listing what it holds
    try:
        with open(p, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise FaceportError(f"cannot read: {exc.strerror}", file=str(p)) from None
    if not head:
        raise FaceportError("the file is empty", file=str(p))
    kind = next((name for magic, name in _IMAGES if head.startswith(magic)), None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "WebP"
    if kind is not None:
        raise FaceportError(f"this is a {kind} image, not a model", file=str(p),
                            hint="models: dlib .dat/.xml, MXNet -symbol.json, S3FD .pth")
    if b"<!DOCTYPE" in head.upper():
        raise FaceportError("DTDs are refused: net_to_xml files have no DOCTYPE, and one can "
                            "define entities that expand without bound", file=str(p),
                            hint="remove the DOCTYPE line if you trust the file")  # fmt: skip


#: weights beyond this magnitude are refused like NaN/Inf (no trained face network has them;
#: float32 overflows to inf one multiply later)
ABSURD = 1e30


def convert(
    path: str | os.PathLike[str], *, allow_nonfinite: bool = False, **options: Any
) -> Graph:
    """Read any supported source model into the IR. Weights that are NaN, infinite or
    beyond ``ABSURD`` are a :class:`FormatError` naming the tensor (a model that converts but
    then detects nothing helps nobody) unless ``allow_nonfinite``."""
    p = Path(path)
    if p.is_dir():  # a model folder: its one model file
        p = model_in_folder(p)
    graph = sniff(p).convert(p, **options)
    if not allow_nonfinite:
        check_weights(graph, str(path))
    return graph


def check_weights(graph: Graph, file: str) -> None:
    """Refuse NaN, infinite or absurd (> ``ABSURD``) floating-point weights."""
    import numpy as np

    from faceport.errors import FormatError

    owners = {key: node for node in graph.nodes for key in node.params.values()}
    for key, array in graph.params.items():
        if array.dtype.kind != "f" or array.size == 0:
            continue
        values = np.asarray(array)
        finite = np.isfinite(values)
        big = np.abs(np.where(finite, values, 0)) > ABSURD
        if finite.all() and not big.any():
            continue
        node = owners.get(key)
        where = str(node.source) if node is not None else file
        raise FormatError(
            f"weight {key!r} holds {int((~finite).sum())} NaN/Inf and {int(big.sum())} values "
            f"beyond {ABSURD:g}", file=where, field=key, expected="finite weights",
            found=f"{values.size} values", hint="pass --allow-nonfinite to convert anyway",
        )  # fmt: skip


def load_any(path: str | os.PathLike[str], **options: Any) -> Graph:
    """A converted model (``.safetensors``) or any source model, as an IR graph."""
    from faceport import serialize

    p = Path(path)
    if p.suffix == serialize.SUFFIX:
        allow = bool(options.pop("allow_nonfinite", False))
        if options:
            raise FaceportError(
                f"reading option(s) {', '.join(sorted(options))} apply to source models; "
                "this is a converted file", file=str(p),
            )  # fmt: skip
        graph = serialize.load(p)
        if not allow:
            check_weights(graph, str(p))
        return graph
    return convert(p, **options)


def _importable(name: str) -> bool:
    try:
        family(name)
    except ImportError:
        return False
    return True
