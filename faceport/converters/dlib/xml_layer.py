"""Decoding of one ``<layer>`` of a dlib ``net_to_xml`` file into a :class:`DlibLayer`.

The streaming reader (:mod:`.xml_reader`) hands over the layer's head (``type``, ``idx``,
``id``) and its one child element (tag, attributes, text, line); attributes are typed by
:mod:`.xml_vocabulary`'s tables (unknown ones kept, inferred), the text is parsed as the
layer's float parameters and split by :func:`.xml_params.split_params`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from faceport.converters.dlib.floattext import FloatTextError, parse_floats
from faceport.converters.dlib.layers import LOSS_PREFIX, DlibLayer
from faceport.converters.dlib.xml_params import split_params
from faceport.converters.dlib.xml_vocabulary import (
    COMP,
    DEFAULTS,
    INPUT,
    AttrTable,
    ValueProblem,
    describe,
    infer_value,
    parse_value,
)
from faceport.errors import FormatError, UnsupportedOpError
from faceport.ir import Source

log = logging.getLogger(__name__)

#: (tag, attributes, text, line) of a layer's one child element
LayerBody = tuple[str, dict[str, str], str, int]

_MULTICLASS = re.compile(r"loss_multimulticlass_log, labels=\{(.*)\}", re.DOTALL)
_CLASSIFIER = re.compile(r"([^:(),{}]+?):\(([^()]*)\)(?:, |$)")


class LayerDecoder:
    """Typed attributes and parameters of layer elements; errors name file, line, field."""

    def __init__(self, name: str, base: str) -> None:
        self.name = name
        self.base = base
        self.fc_stray_gt = 0  # dlib 19.x fc layers whose text began with a stray ">"

    def fail(self, message: str, line: int | None, **fields: Any) -> FormatError:
        return FormatError(message, file=self.name, line=line, **fields)

    def value(self, tag: str, key: str, kind: str, attrib: dict[str, str], line: int) -> Any:
        if key not in attrib:
            raise self.fail(
                f"<{tag}> lacks attribute {key!r}",
                line,
                field=f"{tag}.{key}",
                expected=describe(kind),
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

    def finish_layer(self, head: dict[str, Any], body: LayerBody | None) -> DlibLayer:
        """The :class:`DlibLayer` of one ``<layer>``: ``head`` (its type, idx, id, line) and
        ``body`` (its one child element, ``None`` when it had none)."""
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
