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
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lxml import etree

from faceport.converters.dlib.layers import DlibLayer
from faceport.converters.dlib.xml_layer import LayerBody, LayerDecoder
from faceport.converters.dlib.xml_prolog import PROLOG_LIMIT, check_prolog
from faceport.converters.dlib.xml_repair import RepairingReader, needs_repair
from faceport.errors import FaceportError, FormatError
from faceport.workers import worker

log = logging.getLogger(__name__)

_LIBXML_TEXT_LIMIT = (
    10_000_000  # XML_MAX_TEXT_LENGTH: a text node can only exceed it in a bigger file
)
_LAYER_TYPES = ("comp", "tag", "skip", "input", "loss")
_READ = 1 << 20  # bytes handed to libxml2 at a time
_IN_FLIGHT = 3  # layers decoded ahead of libxml2 at most (bounds the texts held)


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
        stream = RepairingReader(handle) if needs_repair(file) else None
        try:
            _parse(stream if stream is not None else handle, reader, huge)
        except etree.XMLSyntaxError as exc:
            reader.drain()  # a bad layer before the syntax error is reported first
            raise FormatError(f"malformed XML: {exc.msg}", file=name, line=exc.lineno) from None
        except (etree.LxmlError, UnicodeError) as exc:
            reader.drain()
            raise FormatError(f"unreadable XML: {exc}", file=name) from None
        except FaceportError:
            reader.drain()  # an earlier layer's error comes first
            raise
        except BaseException:
            reader.drain(raise_errors=False)
            raise
        reader.drain()
    if not reader.layers:
        raise FormatError("<net> holds no <layer> elements", file=name, field="net")
    log.debug("read %d dlib layers from %s", len(reader.layers), name)
    facts: dict[str, Any] = {"format": "net_to_xml"}
    repairs = {} if stream is None else {k: v for k, v in stream.repairs.items() if v}
    if reader.decoder.fc_stray_gt:
        repairs["fc_stray_gt"] = reader.decoder.fc_stray_gt
    if repairs:  # ill-formed XML dlib wrote, fixed while streaming (see xml_repair)
        facts["repairs"] = repairs
    return reader.layers, facts


def _parse(source: Any, reader: _LayerReader, huge: bool) -> None:
    """Feed libxml2 ``_READ``-byte chunks and hand every event to ``reader`` before raising a
    syntax error of the same chunk. (``etree.iterparse`` drops the events it had collected
    from the chunk in which libxml2 fails, so a bad layer earlier in that chunk would lose to
    the syntax error further down; ``XMLPullParser`` keeps them.)"""
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=huge,
        remove_comments=True,
        remove_pis=True,
    )
    while True:
        chunk = source.read(_READ)
        error: etree.XMLSyntaxError | None = None
        try:
            if chunk:
                parser.feed(chunk)
            else:
                parser.close()
        except etree.XMLSyntaxError as exc:
            error = exc
        for event, elem in parser.read_events():
            reader.feed(event, elem)
        if error is not None:
            raise error
        if not chunk:
            return


class _LayerReader:
    """State machine over iterparse events: net > layer > one layer element.

    Each finished layer is decoded (attributes, parameter text -> arrays) on one worker
    thread while libxml2 goes on parsing: the float parsing (Arrow or numpy, both release
    the GIL) overlaps the markup parsing. Layers are decoded in file order, at most
    ``_IN_FLIGHT`` at a time (their texts are what is held), and the first error in file
    order is the one raised.
    """

    def __init__(self, name: str, base: str) -> None:
        self.name = name
        self.base = base
        self.layers: list[DlibLayer] = []
        self.depth = 0
        self.head: dict[str, Any] = {}
        self.body: LayerBody | None = None
        self.decoder = LayerDecoder(name, base)
        self.pending: deque[Future[DlibLayer]] = deque()

    def submit(self, head: dict[str, Any], body: LayerBody | None) -> None:
        while len(self.pending) >= _IN_FLIGHT:
            self.layers.append(self.pending.popleft().result())
        self.pending.append(worker("xml").submit(self.decoder.finish_layer, head, body))

    def drain(self, raise_errors: bool = True) -> None:
        """Collect every decoded layer (re-raising the first failure when asked)."""
        while self.pending:
            future = self.pending.popleft()
            if raise_errors:
                self.layers.append(future.result())
            else:
                future.cancel() or future.exception()

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
                self.submit(self.head, self.body)
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
        head["idx"] = self.decoder.value("layer", "idx", "size", attrib, line)
        if kind in ("tag", "skip"):
            head["id"] = self.decoder.value("layer", "id", "size", attrib, line)
        return head
