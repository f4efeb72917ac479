"""The dlib family: ``net_to_xml`` XML files and serialized dlib DNN ``.dat`` files."""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.converters import Family
from faceport.errors import FaceportError, FormatError
from faceport.kinds import with_info
from faceport.modelinfo import Pyramid

if TYPE_CHECKING:
    from faceport.converters.dlib.layers import DlibLayer
    from faceport.ir import Graph

log = logging.getLogger(__name__)

_XML_ROOT = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<net[\s>/]", re.S
)
_DAT_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_<>,]{0,63}")
_BN_KINDS = ("bn_con", "bn_fc")


class DlibFamily(Family):
    """dlib DNN models (e.g. the MMOD face detector, the face-recognition ResNet)."""

    name = "dlib"
    description = "dlib net_to_xml .xml (root <net>) or serialized dlib DNN .dat"

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(4096)
        except OSError:
            return False
        if path.suffix.lower() == ".xml":
            return _XML_ROOT.match(head) is not None
        if path.suffix.lower() == ".dat":
            return _looks_like_dat_network(head)
        return False

    def convert(self, path: Path, **options: Any) -> Graph:
        """Read a dlib model.

        Options: ``pyramid_down`` (dlib's ``pyramid_down<N>`` in an MMOD network type; no
        file records it, so 6, the value of dlib's face detector, is assumed and flagged in
        ``meta["input"]`` when omitted); ``bn_as_affine`` (.dat only, default ``True``: fold
        ``bn_*`` into ``affine_*`` exactly as dlib does when its deployment network types --
        ``cnn_face_detection_model_v1``, ``face_recognition_model_v1`` -- load a file trained
        with ``bn_con``; the result equals the ``net_to_xml`` XML of the deployed net. Pass
        ``False`` to keep ``bn_*`` nodes with their running statistics).
        """
        from faceport.converters.dlib.graph_builder import build_graph
        from faceport.serialize import sha256_file_soon

        pyramid_down = options.pop("pyramid_down", None)
        bn_requested = "bn_as_affine" in options
        bn_as_affine = bool(options.pop("bn_as_affine", True))
        if options:
            raise FaceportError(
                f"unknown dlib conversion option(s): {', '.join(sorted(options))}",
                hint="supported: pyramid_down, bn_as_affine",
            )
        if pyramid_down is not None and (
            not isinstance(pyramid_down, int) or isinstance(pyramid_down, bool) or pyramid_down < 1
        ):
            raise FaceportError(
                "pyramid_down must be an integer >= 1", field="pyramid_down", found=pyramid_down
            )
        path = Path(path)
        if not path.is_file():
            raise FaceportError("no such file", file=str(path))
        from_xml = path.suffix.lower() == ".xml"
        digest = sha256_file_soon(path)  # hashed while the reader parses
        if from_xml:
            if bn_requested and bn_as_affine:
                raise FaceportError(
                    "bn_as_affine needs bn running statistics, which net_to_xml does not write",
                    file=str(path),
                    hint="convert the .dat instead",
                )
            layers, facts = _read_xml(path)
        else:
            layers, facts = _read_dat(path, pyramid_down=pyramid_down, bn_as_affine=bn_as_affine)
        facts = dict(facts)
        top = max(layers, key=lambda layer: layer.idx)
        if from_xml and "pyramid" in top.kind:
            pyramid = {
                "pyramid_down": pyramid_down or Pyramid.down,
                "pyramid_down_assumed": pyramid_down is None,
            }
            facts["input"] = {**facts.get("input", {}), **pyramid}
        graph = build_graph(layers, file=path, sha256=digest.result(), extra_meta=facts)
        if from_xml:
            _refuse_partial_batch_norm(graph, str(path))
        return with_info(graph, [path])


def _read_xml(path: Path) -> tuple[list[DlibLayer], dict[str, Any]]:
    from faceport.converters.dlib.xml_reader import read_xml

    return read_xml(path)


def _read_dat(path: Path, **options: Any) -> tuple[list[DlibLayer], dict[str, Any]]:
    module_name = "faceport.converters.dlib.dat_reader"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name != module_name:
            raise
        raise FaceportError(
            "the dlib .dat reader is not part of this build",
            file=str(path),
            hint="convert the net_to_xml .xml export instead",
        ) from None
    result: tuple[list[DlibLayer], dict[str, Any]] = module.read_dat(path, **options)
    return result


def _looks_like_dat_network(head: bytes) -> bool:
    """dlib ``serialize(net)``: a small version int, then the outermost layer's version
    string (``loss_mmod_``, ``loss_metric_2``...), both in dlib's integer encoding (a
    control byte giving the byte count, then little-endian bytes)."""
    version, pos = _dlib_uint(head, 0)
    if version is None or not 1 <= version <= 9:
        return False
    length, pos = _dlib_uint(head, pos)
    if length is None or not 1 <= length <= 64 or pos + length > len(head):
        return False
    return _DAT_NAME.fullmatch(head[pos : pos + length]) is not None


def _dlib_uint(data: bytes, pos: int) -> tuple[int | None, int]:
    if pos >= len(data):
        return None, pos
    control = data[pos]
    size = control & 0x0F
    if control & 0x80 or size > 8 or pos + 1 + size > len(data):
        return None, pos
    return int.from_bytes(data[pos + 1 : pos + 1 + size], "little"), pos + 1 + size


def _refuse_partial_batch_norm(graph: Graph, name: str) -> None:
    """net_to_xml writes bn's gamma/beta but not its running mean/variance (dlib ``bn_``'s
    ``to_xml`` prints only ``params``), so such a network cannot be run from its XML."""
    for node in graph.nodes:
        if node.op in _BN_KINDS and "running_mean" not in node.params:
            raise FormatError(
                f"{node.op} layer {node.name} has no running statistics in net_to_xml output",
                file=name,
                line=node.source.line,
                field=f"{node.op}.params",
                expected="gamma, beta, running_mean, running_var",
                found=", ".join(sorted(node.params)) or "nothing",
                hint="convert the serialized .dat of this network instead",
            )


FAMILY = DlibFamily()
