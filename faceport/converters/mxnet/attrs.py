"""MXNet attribute strings -> typed values, and typed accessors for converters.

MXNet stores every operator parameter as a string (dmlc::Parameter's text form): integers
(``"8"``, Python-2 longs ``"8L"``), floats (``"1e-05"``), booleans (``"True"``, ``"true"``,
``"1"``), ``"None"`` for an unset optional, and tuples in either bracket (``"(1, 1)"``,
``"(1,1)"``, ``"[3]"``, ``"(1L, 1L)"``, ``"(None, 2)"``). dmlc also reads a bare number where a
tuple is expected (``kernel="3"`` is ``(3,)``).

:func:`parse_value` turns one string into the JSON-ready value kept in the IR (int, float,
bool, None, list, or the string itself when it is none of these, e.g. ``"relu"``).
The ``get_*`` accessors read those values back with the type a converter needs and raise a
:class:`FormatError` naming file, JSON node and attribute when the value is the wrong kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from faceport.errors import FormatError
from faceport.ir import Node

MAX_ATTR_CHARS = 4096
MAX_TUPLE_LEN = 64
INT64_MAX = 2**63 - 1

_INT = re.compile(r"[+-]?\d{1,19}[lL]?")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d{1,4})?|\.\d+(?:[eE][+-]?\d{1,4})?|inf|nan)")
_TUPLE = re.compile(r"[\(\[](.*)[\)\]]", re.DOTALL)
REQUIRED = object()


def _scalar(text: str) -> Any:
    """One scalar token, or the sentinel ``_NOT_SCALAR``."""
    token = text.strip()
    if token == "None":
        return None
    if token in ("True", "true"):
        return True
    if token in ("False", "false"):
        return False
    if _INT.fullmatch(token):
        value = int(token.rstrip("lL"))
        if abs(value) > INT64_MAX:
            return _NOT_SCALAR
        return value
    if _FLOAT.fullmatch(token.lower()):
        return float(token)
    return _NOT_SCALAR


_NOT_SCALAR = object()


def parse_value(text: str, *, file: str | None = None, field: str | None = None) -> Any:
    """Typed value of one MXNet attribute string (see the module docstring for the forms)."""
    if len(text) > MAX_ATTR_CHARS:
        raise FormatError(
            "attribute string too long",
            file=file,
            field=field,
            expected=f"<= {MAX_ATTR_CHARS} characters",
            found=len(text),
        )
    stripped = text.strip()
    scalar = _scalar(stripped)
    if scalar is not _NOT_SCALAR:
        return scalar
    match = _TUPLE.fullmatch(stripped)
    if match is None or (stripped[0] == "(") != (stripped[-1] == ")"):
        return text
    body = match.group(1).strip()
    if not body:
        return []
    parts = body.split(",")
    if parts[-1].strip() == "":  # one-element tuple "(3,)"
        parts = parts[:-1]
    if len(parts) > MAX_TUPLE_LEN:
        raise FormatError(
            "attribute tuple too long",
            file=file,
            field=field,
            expected=f"<= {MAX_TUPLE_LEN} elements",
            found=len(parts),
        )
    values = [_scalar(p) for p in parts]
    if any(v is _NOT_SCALAR or isinstance(v, bool) for v in values):
        return text  # not a tuple of numbers: keep the text, a typed accessor will complain
    return values


def _where(node: Node, key: str) -> dict[str, Any]:
    where = node.source.key or node.name
    return {"file": node.source.file, "field": f"{where} ({node.name}).attrs.{key}"}


def _fail(node: Node, key: str, expected: str, found: Any) -> FormatError:
    return FormatError(
        f"bad attribute {key!r} of {node.op} node {node.name!r}",
        expected=expected,
        found=found,
        **_where(node, key),
    )


def bad_attr(node: Node, key: str, expected: str, found: Any) -> FormatError:
    """The error for an attribute value faceport cannot honour (raise it)."""
    return _fail(node, key, expected, found)


def _missing(node: Node, key: str, default: Any, expected: str) -> Any:
    if default is REQUIRED:
        raise FormatError(
            f"{node.op} node {node.name!r} lacks required attribute {key!r}",
            expected=expected,
            found="absent",
            **_where(node, key),
        )
    return default


def get_int(node: Node, key: str, default: Any = REQUIRED, *, minimum: int | None = None) -> Any:
    """Integer attribute (``None`` allowed only as the default)."""
    value = node.attrs.get(key)
    if value is None:
        return _missing(node, key, default, "integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(node, key, "integer", value)
    if minimum is not None and value < minimum:
        raise _fail(node, key, f"integer >= {minimum}", value)
    return value


def get_float(node: Node, key: str, default: Any = REQUIRED) -> Any:
    """Float attribute; also accepts ints and the ``"inf"``/``"-inf"`` spellings."""
    value = node.attrs.get(key)
    if value is None:
        return _missing(node, key, default, "number")
    if isinstance(value, str) and value.strip().lower() in ("inf", "-inf", "+inf", "nan"):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(node, key, "number", value)
    result = float(value)
    if math.isnan(result):
        raise _fail(node, key, "a number, not nan", value)
    return result


def get_bool(node: Node, key: str, default: Any = REQUIRED) -> Any:
    """Boolean attribute: ``True``/``False`` in any case dmlc accepts, or 0/1."""
    value = node.attrs.get(key)
    if value is None:
        return _missing(node, key, default, "boolean")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _fail(node, key, "True/False/0/1", value)


def get_str(node: Node, key: str, default: Any = REQUIRED, choices: Sequence[str] = ()) -> Any:
    """String (enum) attribute, checked against ``choices`` when given."""
    value = node.attrs.get(key)
    if value is None:
        return _missing(node, key, default, " | ".join(choices) or "string")
    if not isinstance(value, str) or (choices and value not in choices):
        raise _fail(node, key, " | ".join(choices) or "string", value)
    return value


def get_ints(
    node: Node,
    key: str,
    default: Any = REQUIRED,
    *,
    length: int | None = None,
    minimum: int | None = None,
    allow_none: bool = False,
) -> Any:
    """Tuple-of-int attribute as a list (a bare int is a 1-tuple, as dmlc reads it)."""
    value = node.attrs.get(key)
    if value is None:
        return _missing(node, key, default, "tuple of integers")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise _fail(node, key, "tuple of integers", value)
    for item in value:
        if item is None and allow_none:
            continue
        if isinstance(item, bool) or not isinstance(item, int):
            raise _fail(node, key, "tuple of integers", value)
        if minimum is not None and item < minimum:
            raise _fail(node, key, f"integers >= {minimum}", value)
    if length is not None and len(value) != length:
        raise _fail(node, key, f"{length} integers", value)
    return list(value)


def spatial(node: Node, key: str, ndim: int, fill: int, *, minimum: int = 0) -> list[int]:
    """A per-spatial-axis tuple (stride, pad, dilate): empty means ``fill`` on every axis."""
    value = get_ints(node, key, [], minimum=minimum)
    if not value:
        return [fill] * ndim
    if len(value) != ndim:
        raise _fail(node, key, f"{ndim} integers (one per spatial axis)", value)
    return list(value)
