"""Read dlib's ``net_to_xml`` output into :class:`~faceport.converters.dlib.layers.DlibLayer` s.

Format (dlib ``dlib/dnn/utilities.h``, ``visitor_net_to_xml``): ``<net>`` holds one
``<layer idx='i' type='...'>`` per layer, numbered from the output (0, usually the loss)
to the input (last). ``type`` is ``comp`` (a computational layer: one child element
written by the layer's ``to_xml``, see :mod:`.xml_vocabulary`), ``input``, ``loss``
(one child each), or ``tag`` / ``skip`` (no child; ``id='N'`` is the tag number).

The file is untrusted and may be large (the face-recognition ResNet's XML is 89 MB), so it
is streamed with ``lxml.etree.iterparse`` and each layer is dropped from the tree once read;
entities are not resolved, the network and DTDs are never loaded, and any DOCTYPE or
non-ASCII-compatible encoding is refused before libxml2 sees the body. libxml2's
``huge_tree`` (lifting its 10 MB text-node limit) is enabled only for files above that size.
Line numbers come from libxml2: exact up to 65535, possibly one off beyond (its big-line
bookkeeping), which is close enough to find the layer.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from lxml import etree

from faceport.converters.dlib.floattext import FloatTextError, parse_floats
from faceport.converters.dlib.layers import LOSS_PREFIX, DlibLayer
from faceport.converters.dlib.xml_params import split_params
from faceport.converters.dlib.xml_prolog import PROLOG_LIMIT, check_prolog
from faceport.converters.dlib.xml_repair import RepairingReader
from faceport.converters.dlib.xml_vocabulary import (
    COMP,
    DEFAULTS,
    INPUT,
    AttrTable,
    ValueProblem,
    infer_value,
    parse_value,
)
from faceport.errors import FaceportError, FormatError, UnsupportedOpError
from faceport.ir import Source

log = logging.getLogger(__name__)

_LIBXML_TEXT_LIMIT = (
    10_000_000  # XML_MAX_TEXT_LENGTH: a text node can only exceed it in a bigger file
)
_MULTICLASS = re.compile(r"loss_multimulticlass_log, labels=\{(.*)\}", re.DOTALL)
_CLASSIFIER = re.compile(r"([^:(),{}]+?):\(([^()]*)\)(?:, |$)")
_LAYER_TYPES = ("comp", "tag", "skip", "input", "loss")
_DESCRIBE = {
    "count": "an integer >= 1",
    "size": "an integer >= 0",
    "float": "a number",
    "bool": "true or false",
    "ids": "comma-separated tag ids",
}


def read_xml(path: str | os.PathLike[str]) -> tuple[list[DlibLayer], dict[str, Any]]:
    """Parse a ``net_to_xml`` file: layers in dlib's index order (0 = output side).

    Returns the layer records and reader facts for ``Graph.meta`` (``{"format": ...}``).
    Raises :class:`FormatError` (file, line, field, expected/found) for anything malformed
    and :class:`UnsupportedOpError` for a layer tag this reader does not know.
    """
    file = Path(path)
    name = str(file)
    if not file.is_file():
        raise FaceportError("no such file", file=name)
    huge = file.stat().st_size > _LIBXML_TEXT_LIMIT
    with open(file, "rb") as handle:
        check_prolog(handle.read(PROLOG_LIMIT), name)
        handle.seek(0)
        reader = _LayerReader(name, file.name)
        stream = RepairingReader(handle)
        try:
            events = etree.iterparse(
                stream,
                events=("start", "end"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=huge,
                remove_comments=True,
                remove_pis=True,
            )
            for event, elem in events:
                reader.feed(event, elem)
        except etree.XMLSyntaxError as exc:
            raise FormatError(f"malformed XML: {exc.msg}", file=name, line=exc.lineno) from None
        except (etree.LxmlError, UnicodeError) as exc:
            raise FormatError(f"unreadable XML: {exc}", file=name) from None
    if not reader.layers:
        raise FormatError("<net> holds no <layer> elements", file=name, field="net")
    log.debug("read %d dlib layers from %s", len(reader.layers), name)
    facts: dict[str, Any] = {"format": "net_to_xml"}
    repairs = {k: v for k, v in stream.repairs.items() if v}
    if reader.fc_stray_gt:
        repairs["fc_stray_gt"] = reader.fc_stray_gt
    if repairs:  # ill-formed XML dlib wrote, fixed while streaming (see xml_repair)
        facts["repairs"] = repairs
    return reader.layers, facts


class _LayerReader:
    """State machine over iterparse events: net > layer > one layer element."""

    def __init__(self, name: str, base: str) -> None:
        self.name = name
        self.base = base
        self.layers: list[DlibLayer] = []
        self.depth = 0
        self.head: dict[str, Any] = {}
        self.body: tuple[str, dict[str, str], str, int] | None = None
        self.fc_stray_gt = 0

    def fail(self, message: str, line: int | None, **fields: Any) -> FormatError:
        return FormatError(message, file=self.name, line=line, **fields)

    def feed(self, event: str, elem: Any) -> None:
        line = elem.sourceline
        if event == "end":
            if self.depth == 3:
                self.body = (elem.tag, dict(elem.attrib), elem.text or "", line)
                elem.clear()
            elif self.depth == 2:
                if (elem.text or "").strip() or (len(elem) and (elem[0].tail or "").strip()):
                    raise self.fail("unexpected text inside <layer>", line, field="layer")
                self.layers.append(self.finish_layer())
                elem.clear()
                parent = elem.getparent()
                while parent is not None and elem.getprevious() is not None:
                    del parent[0]
            self.depth -= 1
            return
        self.depth += 1
        if not isinstance(elem.tag, str):
            raise self.fail("unexpected XML node", line, found=repr(elem))
        if self.depth == 1:
            info = elem.getroottree().docinfo
            if info.doctype or info.internalDTD is not None:
                raise self.fail("DOCTYPE declarations are not allowed", line, field="prolog")
            if elem.tag != "net":
                raise self.fail(
                    "root element is not <net>", line, field="root", expected="net", found=elem.tag
                )
        elif self.depth == 2:
            if elem.tag != "layer":
                raise self.fail(
                    "unexpected element in <net>",
                    line,
                    field="net",
                    expected="layer",
                    found=elem.tag,
                )
            self.head = self.layer_head(dict(elem.attrib), line)
            self.body = None
        elif self.depth == 3:
            if self.head["type"] in ("tag", "skip"):
                raise self.fail(
                    f"a {self.head['type']} layer has no content",
                    line,
                    field="layer",
                    found=elem.tag,
                )
            if self.body is not None:
                raise self.fail(
                    "more than one element in a <layer>",
                    line,
                    field="layer",
                    expected="1",
                    found=f"<{self.body[0]}> and <{elem.tag}>",
                )
        else:
            raise self.fail(
                "XML nested deeper than net > layer > layer element", line, field=elem.tag
            )

    def layer_head(self, attrib: dict[str, str], line: int) -> dict[str, Any]:
        kind = attrib.get("type")
        if kind not in _LAYER_TYPES:
            raise self.fail(
                "bad <layer> type",
                line,
                field="layer.type",
                expected="|".join(_LAYER_TYPES),
                found=kind,
            )
        head: dict[str, Any] = {"type": kind, "line": line}
        head["idx"] = self.value("layer", "idx", "size", attrib, line)
        if kind in ("tag", "skip"):
            head["id"] = self.value("layer", "id", "size", attrib, line)
        return head

    def value(self, tag: str, key: str, kind: str, attrib: dict[str, str], line: int) -> Any:
        if key not in attrib:
            raise self.fail(
                f"<{tag}> lacks attribute {key!r}",
                line,
                field=f"{tag}.{key}",
                expected=_DESCRIBE[kind],
                found="nothing",
            )
        try:
            return parse_value(kind, attrib[key])
        except ValueProblem as exc:
            raise self.fail(
                f"bad attribute {key!r} on <{tag}>",
                line,
                field=f"{tag}.{key}",
                expected=exc.expected,
                found=exc.found,
            ) from None

    def finish_layer(self) -> DlibLayer:
        head, body = self.head, self.body
        idx, kind, line = head["idx"], head["type"], head["line"]
        source = Source(file=self.base, line=line)
        if kind in ("tag", "skip"):
            return DlibLayer(idx, kind, {"id": head["id"]}, {}, source)
        if body is None:
            raise self.fail(
                f"{kind} layer {idx} has no element",
                line,
                field="layer",
                expected="one child element",
                found="none",
            )
        tag, attrib, text, body_line = body
        if kind == "loss":
            if not tag.startswith(LOSS_PREFIX):
                raise self.fail(
                    "loss layer element is not a loss",
                    body_line,
                    field="layer",
                    expected=f"{LOSS_PREFIX}*",
                    found=tag,
                )
            table: AttrTable = {}
        else:
            vocabulary = INPUT if kind == "input" else COMP
            if tag not in vocabulary:
                raise UnsupportedOpError(
                    "dlib",
                    tag,
                    f"layer {idx}",
                    file=self.name,
                    line=body_line,
                    supported=vocabulary,
                )
            table = vocabulary[tag]
        attrs = self.attrs(tag, table, attrib, body_line)
        if tag == "fc" and text.lstrip().startswith(">"):
            # dlib 19.x's fc_::to_xml writes ">\n" twice: the second lands in the text
            text = text.replace(">", " ", 1)
            self.fc_stray_gt += 1
        if tag == "loss_multimulticlass_log":
            attrs["labels"] = self.multiclass_labels(text, body_line)
            text = ""
        params = self.params(tag, attrs, text, body_line)
        return DlibLayer(idx, tag, attrs, params, source)

    def attrs(
        self, tag: str, table: AttrTable, attrib: dict[str, str], line: int
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (kind, required) in table.items():
            if required or key in attrib:
                out[key] = self.value(tag, key, kind, attrib, line)
        for key, text in attrib.items():
            if key not in table:
                log.debug("%s:%s: keeping unknown attribute %s on <%s>", self.name, line, key, tag)
                out[key] = infer_value(text)
        for key, value in DEFAULTS.get(tag, {}).items():
            out.setdefault(key, value)
        return out

    def multiclass_labels(self, text: str, line: int) -> dict[str, list[str]]:
        """loss_multimulticlass_log's to_xml prints ``operator<<``: ``loss_multimulticlass_log,
        labels={name:(l1,l2), name2:(...)}`` (names in std::map order)."""
        match = _MULTICLASS.fullmatch(text.strip())
        if match is None:
            raise self.fail("bad loss_multimulticlass_log label text", line,
                            field="loss_multimulticlass_log", found=text.strip()[:80],
                            expected="loss_multimulticlass_log, labels={name:(a,b), ...}")
        return {name: labels.split(",") for name, labels in _CLASSIFIER.findall(match.group(1))}

    def params(self, tag: str, attrs: dict[str, Any], text: str, line: int) -> dict[str, Any]:
        try:
            flat = parse_floats(text)
        except FloatTextError as exc:
            raise self.fail(
                f"bad number in <{tag}> parameters",
                line + text.count("\n", 0, exc.offset),
                field=f"{tag}.params[{exc.index}]",
                expected="a decimal number",
                found=exc.token,
            ) from None
        try:
            return split_params(tag, attrs, flat)
        except ValueProblem as exc:
            raise self.fail(
                f"wrong parameter count for <{tag}>",
                line,
                field=f"{tag}.params",
                expected=exc.expected,
                found=exc.found,
            ) from None
