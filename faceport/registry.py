"""The converter table: one function per source op, keyed by ``(framework, op)``.

A converter turns one IR :class:`~faceport.ir.Node` into a ``torch.nn.Module`` whose
``forward`` takes the node's input tensors positionally and returns one tensor, or a tuple
with one tensor per node output. Converters are registered with :func:`register`; a second
registration of the same key is a bug and fails at import time.

Each framework's converters live in ``faceport.converters.<framework>.ops`` (by convention:
a new framework's folder brings its table with it) and are imported on first lookup, so
``import faceport`` stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faceport.errors import InternalError, UnsupportedOpError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from faceport.ir import Graph, Node

Converter = Callable[["Node", "LowerContext"], "nn.Module"]

_TABLE: dict[tuple[str, str], Converter] = {}
_LOADED: set[str] = set()
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


def register(framework: str, *ops: str) -> Callable[[Converter], Converter]:
    """Decorator: register ``fn`` as the converter for each ``(framework, op)``."""

    def decorate(fn: Converter) -> Converter:
        for op in ops:
            key = (framework, op)
            if key in _TABLE:
                raise InternalError(
                    f"converter for {key} registered twice: {_TABLE[key].__qualname__} "
                    f"and {fn.__qualname__}"
                )
            _TABLE[key] = fn
        return fn

    return decorate


def _load(framework: str) -> None:
    if framework in _LOADED:
        return
    if _IDENTIFIER.fullmatch(framework):
        module = f"faceport.converters.{framework}.ops"
        if importlib.util.find_spec(f"faceport.converters.{framework}") is not None:
            importlib.import_module(module)
    _LOADED.add(framework)


def supported_ops(framework: str) -> list[str]:
    """Sorted op names that have a converter for ``framework``."""
    _load(framework)
    return sorted(op for fw, op in _TABLE if fw == framework)


def converter_for(framework: str, node: Node) -> Converter:
    """The converter for ``node``, or an :class:`UnsupportedOpError` naming op, node, file."""
    _load(framework)
    fn = _TABLE.get((framework, node.op))
    if fn is None:
        raise UnsupportedOpError(
            framework,
            node.op,
            node.name,
            file=node.source.file,
            line=node.source.line,
            offset=node.source.offset,
            supported=supported_ops(framework),
        )
    return fn


def table(framework: str) -> dict[str, Converter]:
    """``op -> converter`` for one framework (for generated docs and coverage tests)."""
    _load(framework)
    return {op: fn for (fw, op), fn in sorted(_TABLE.items()) if fw == framework}


@dataclass
class LowerContext:
    """What a converter may read besides its node: the graph's weights and options."""

    graph: Graph
    options: dict[str, Any]

    def param(self, node: Node, role: str) -> torch.Tensor:
        """The weight ``role`` of ``node`` as a float32 (or native int) torch tensor copy."""
        import numpy as np
        import torch

        key = node.params.get(role)
        if key is None:
            raise InternalError(f"converter asked node {node.name!r} for missing role {role!r}")
        array = self.graph.params[key]
        if array.dtype.kind == "f" and array.dtype != np.float32:
            array = array.astype(np.float32)
        return torch.from_numpy(np.array(array, copy=True))

    def has_param(self, node: Node, role: str) -> bool:
        return role in node.params
