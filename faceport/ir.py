"""The common graph every reader produces and :mod:`faceport.lower` consumes.

A :class:`Graph` is a topologically ordered list of :class:`Node` s in the *source*
framework's vocabulary (``(framework, op)`` keys the converter registry), its named inputs
and outputs, and the weights (``params``: name -> float/int numpy array). Every node
carries a :class:`Source` pointing back at the XML line, byte offset, JSON node or
state-dict key it was read from, so errors and parity reports can name the original layer.

Attributes are JSON-serialisable values (``int``, ``float``, ``str``, ``bool``, ``None`` and
lists of them); tuples are normalised to lists so that a graph survives a JSON round trip
unchanged. Treat every object here as immutable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceport.errors import FormatError, InternalError
from faceport.modelinfo import ModelInfo

AttrValue = Any  # int | float | str | bool | None | list[AttrValue]


@dataclass(frozen=True)
class Source:
    """Provenance of a node: file plus line (XML), byte offset (binary), or key (JSON/pth)."""

    file: str | None = None
    line: int | None = None
    offset: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        text = self.file or "<memory>"
        if self.line is not None:
            text += f":{self.line}"
        if self.offset is not None:
            text += f"@{self.offset}"
        if self.key is not None:
            text += f"[{self.key}]"
        return text

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Source:
        return cls(
            file=_opt(data, "file", str),
            line=_opt(data, "line", int),
            offset=_opt(data, "offset", int),
            key=_opt(data, "key", str),
        )


@dataclass(frozen=True)
class TensorSpec:
    """A graph input: name, shape (``None`` for a dynamic axis) and numpy dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorSpec:
        shape = data.get("shape")
        if not isinstance(shape, list) or not all(d is None or _is_int(d) for d in shape):
            raise FormatError(
                "bad tensor shape", field="inputs.shape", expected="list of ints", found=shape
            )
        return cls(str(data.get("name")), tuple(shape), str(data.get("dtype", "float32")))


@dataclass(frozen=True)
class Node:
    """One source-framework op.

    ``params`` maps a role the converter understands (``"weight"``, ``"bias"``, ``"gamma"``)
    to a key of :attr:`Graph.params`. ``inputs``/``outputs`` are tensor names.
    """

    op: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    source: Source = field(default_factory=Source)

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        return self.attrs.get(key, default)

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attrs": normalize_attrs(self.attrs),
            "params": dict(self.params),
            "source": self.source.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Node:
        if not isinstance(data, Mapping):
            raise FormatError("node is not an object", field="nodes[]", found=type(data).__name__)
        try:
            return cls(
                op=_req(data, "op", str),
                name=_req(data, "name", str),
                inputs=tuple(_str_list(data, "inputs")),
                outputs=tuple(_str_list(data, "outputs")),
                attrs=normalize_attrs(data.get("attrs", {})),
                params={str(k): str(v) for k, v in dict(data.get("params", {})).items()},
                source=Source.from_json(data.get("source", {})),
            )
        except (TypeError, ValueError) as exc:
            raise FormatError(f"malformed node: {exc}", field="nodes[]") from None


@dataclass(frozen=True)
class Graph:
    """A whole network in one framework's op vocabulary.

    ``info`` is the typed record every layer reads to use the model (family, model kind,
    sources, input, preprocessing, head: :mod:`faceport.modelinfo`); readers set it, and
    :func:`faceport.kinds.info_of` derives it for a graph built without one. ``meta`` holds the
    reader's free-form notes (format facts, repairs, assumptions), for people, not for layers.
    """

    framework: str
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    info: ModelInfo | None = None

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def producers(self) -> dict[str, Node]:
        """Tensor name -> the node that produces it."""
        return {out: node for node in self.nodes for out in node.outputs}

    def param_count(self) -> int:
        return int(sum(int(np.prod(a.shape)) for a in self.params.values()))

    def validate(self) -> Graph:
        """Check names are unique, every tensor is defined before use, params exist.

        Raises :class:`FormatError` naming the first offending node (a reader's output is
        untrusted until validated; an internal pass breaking this is our bug).
        """
        defined = {spec.name for spec in self.inputs}
        if len(defined) != len(self.inputs):
            raise FormatError("duplicate graph input names", field="inputs")
        names: set[str] = set()
        for node in self.nodes:
            where = str(node.source)
            if node.name in names:
                raise FormatError(f"duplicate node name {node.name!r}", file=where, field="name")
            names.add(node.name)
            for tensor in node.inputs:
                if tensor not in defined:
                    raise FormatError(
                        f"node {node.name!r} reads tensor {tensor!r} before it is produced",
                        file=where,
                        field="inputs",
                    )
            for role, key in node.params.items():
                if key not in self.params:
                    raise FormatError(
                        f"node {node.name!r} needs parameter {key!r} ({role}) which is missing",
                        file=where,
                        field="params",
                    )
            for tensor in node.outputs:
                if tensor in defined:
                    raise FormatError(
                        f"tensor {tensor!r} produced twice (again by {node.name!r})",
                        file=where,
                        field="outputs",
                    )
                defined.add(tensor)
        for tensor in self.outputs:
            if tensor not in defined:
                raise FormatError(f"graph output {tensor!r} is never produced", field="outputs")
        return self

    def structure_json(self) -> dict[str, Any]:
        """Everything but the weights, as JSON-ready data (weights described by shape)."""
        return {
            "framework": self.framework,
            "inputs": [spec.to_json() for spec in self.inputs],
            "nodes": [node.to_json() for node in self.nodes],
            "outputs": list(self.outputs),
            "params": {
                k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in self.params.items()
            },
            "meta": normalize_attrs(self.meta),
            **({} if self.info is None else {"info": normalize_attrs(self.info.to_json())}),
        }

    @classmethod
    def from_structure_json(cls, data: Any, params: Mapping[str, np.ndarray]) -> Graph:
        if not isinstance(data, Mapping):
            raise FormatError("graph is not a JSON object", found=type(data).__name__)
        nodes = data.get("nodes")
        inputs = data.get("inputs")
        if not isinstance(nodes, list) or not isinstance(inputs, list):
            raise FormatError("graph needs 'nodes' and 'inputs' lists", field="nodes/inputs")
        declared = data.get("params", {})
        if not isinstance(declared, Mapping):
            raise FormatError("'params' is not an object", field="params")
        for key, spec in declared.items():
            if key not in params:
                raise FormatError(f"weights file lacks parameter {key!r}", field="params")
            shape = list(params[key].shape)
            if isinstance(spec, Mapping) and spec.get("shape") != shape:
                raise FormatError(
                    f"parameter {key!r} has the wrong shape",
                    field=f"params.{key}",
                    expected=spec.get("shape"),
                    found=shape,
                )
        meta = data.get("meta", {})
        info = data.get("info")
        return cls(
            framework=_req(data, "framework", str),
            inputs=tuple(TensorSpec.from_json(i) for i in inputs),
            nodes=tuple(Node.from_json(n) for n in nodes),
            outputs=tuple(_str_list(data, "outputs")),
            params=dict(params),
            meta=normalize_attrs(meta) if isinstance(meta, Mapping) else {},
            info=None if info is None else ModelInfo.from_json(info),
        ).validate()

    def same_structure(self, other: Graph) -> bool:
        """True when both graphs have the same ops, wiring, attributes and weight shapes."""
        mine, theirs = self.structure_json(), other.structure_json()
        for data in (mine, theirs):
            data.pop("meta")
            data.pop("info", None)
            for node in data["nodes"]:
                node.pop("source")
        return mine == theirs


def normalize_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-copy attributes into JSON-stable form (tuples -> lists, numpy scalars -> Python)."""
    return {str(k): _normalize(v, str(k)) for k, v in attrs.items()}


def _normalize(value: Any, key: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return repr(number)  # JSON has no inf/nan; readers parse these strings back
        return number
    if isinstance(value, Mapping):
        return {str(k): _normalize(v, key) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v, key) for v in value]
    raise InternalError(f"attribute {key!r} has non-JSON type {type(value).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _req(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise FormatError(
            f"missing or mistyped {key!r}", field=key, expected=kind.__name__, found=value
        )
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    return value if isinstance(value, kind) else None


def _str_list(data: Mapping[str, Any], key: str) -> Iterable[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{key!r} must be a list of strings", field=key, found=value)
    return value
