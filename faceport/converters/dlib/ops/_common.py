"""Helpers shared by the dlib converters: typed attribute access and parameter checks.

Attributes arrive typed from the readers (``int``, ``float``, ``bool``, ``str``) but a
hand-built or JSON-loaded graph may carry ``"true"``/``"3"`` strings, so every access goes
through these helpers, which raise :class:`~faceport.errors.FormatError` naming the node's
source line when a value is missing or of the wrong kind.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from faceport.errors import FormatError

if TYPE_CHECKING:
    import torch

    from faceport.ir import Node
    from faceport.registry import LowerContext

_MISSING = object()


def fail(node: Node, key: str, message: str, expected: Any = None, found: Any = None) -> None:
    raise FormatError(
        f"dlib layer {node.name!r} ({node.op}): {message}",
        file=node.source.file,
        line=node.source.line,
        offset=node.source.offset,
        field=key,
        expected=expected,
        found=found,
    )


def int_attr(node: Node, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> int:
    """Attribute ``key`` as an int (``default`` when absent; absent without default fails)."""
    value = node.attrs.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            fail(node, key, "missing attribute", expected="an integer")
        return int(default)
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        fail(node, key, "attribute is not an integer", expected="an integer", found=value)
    if minimum is not None and number < minimum:
        fail(node, key, "attribute out of range", expected=f">= {minimum}", found=number)
    return number


def float_attr(node: Node, key: str, default: Any = _MISSING) -> float:
    """Attribute ``key`` as a float; ``"inf"``/``"-inf"`` strings (JSON-normalised) accepted."""
    value = node.attrs.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            fail(node, key, "missing attribute", expected="a number")
        return float(default)
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        fail(node, key, "attribute is not a number", expected="a number", found=value)
    if math.isnan(number):
        fail(node, key, "attribute is NaN", expected="a number", found=value)
    return number


def bool_attr(node: Node, key: str, default: bool) -> bool:
    """Attribute ``key`` as a bool; accepts ``true``/``false``/``1``/``0`` as net_to_xml writes."""
    value = node.attrs.get(key, _MISSING)
    if value is _MISSING:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    fail(node, key, "attribute is not a boolean", expected="true or false", found=value)
    raise AssertionError  # unreachable: fail raises


def str_attr(node: Node, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = node.attrs.get(key, default)
    if not isinstance(value, str) or value not in choices:
        fail(node, key, "unknown attribute value", expected=" or ".join(choices), found=value)
    return str(value)


def param(
    node: Node, ctx: LowerContext, role: str, shape: tuple[int | None, ...] | None = None
) -> torch.Tensor:
    """Weight ``role`` of ``node``; with ``shape`` (``None`` = any size) its shape is checked."""
    if not ctx.has_param(node, role):
        fail(node, f"params.{role}", "missing parameter", expected=role)
    tensor = ctx.param(node, role)
    if shape is not None:
        found = tuple(tensor.shape)
        ok = len(found) == len(shape) and all(w is None or w == f for w, f in zip(shape, found))
        if not ok:
            fail(node, f"params.{role}", "parameter has the wrong shape", shape, list(found))
    return tensor


def vector_param(node: Node, ctx: LowerContext, role: str, size: int | None = None) -> torch.Tensor:
    """A 1-D parameter (any stored rank is flattened); ``size`` checks the element count."""
    tensor = param(node, ctx, role).reshape(-1)
    if size is not None and tensor.numel() != size:
        fail(node, f"params.{role}", "parameter has the wrong size", size, tensor.numel())
    return tensor


def input_count(node: Node, count: int) -> None:
    if len(node.inputs) != count:
        fail(node, "inputs", "wrong number of inputs", count, len(node.inputs))
