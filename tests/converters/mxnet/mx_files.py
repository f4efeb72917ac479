"""Test-side writers for MXNet checkpoint files, written from the format definition.

``ndarray_bytes`` / ``params_bytes`` produce the NDArray-list layout of MXNet's
``NDArray::Save`` (v2/v3 magic, v1 magic, or the legacy magic-less form) and ``Sym`` builds a
``symbol.json`` in the >= 1.0 layout or the pre-1.0 ``param``/``attr`` layout. These are the
tests' own encoders; the reader under test never sees this code.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

FLAGS = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6}
MAGIC = {1: 0xF993FAC8, 2: 0xF993FAC9, 3: 0xF993FACA}


def ndarray_bytes(array: np.ndarray | None, version: int = 2, stype: int = 0,
                  dev: tuple[int, int] = (1, 0)) -> bytes:
    """One array as NDArray::Save writes it (version 0: legacy, uint32 ndim and dims)."""
    out = bytearray()
    shape = () if array is None else array.shape
    if version == 0:
        out += struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    else:
        out += struct.pack("<I", MAGIC[version])
        if version >= 2:
            out += struct.pack("<i", stype)
        if version == 3 and array is None:
            return bytes(out + struct.pack("<i", -1))
        out += struct.pack("<i", len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
    if array is None:
        return bytes(out)
    out += struct.pack("<ii", *dev)
    out += struct.pack("<i", FLAGS[array.dtype.name])
    out += np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return bytes(out)


def params_bytes(named: dict[str, np.ndarray | None] | list[tuple[str, np.ndarray | None]],
                 version: int = 2, with_names: bool = True) -> bytes:
    items = list(named.items()) if isinstance(named, dict) else list(named)
    out = bytearray(struct.pack("<QQ", 0x112, 0))
    out += struct.pack("<Q", len(items))
    for _, array in items:
        out += ndarray_bytes(array, version)
    if not with_names:
        return bytes(out + struct.pack("<Q", 0))
    out += struct.pack("<Q", len(items))
    for name, _ in items:
        raw = name.encode()
        out += struct.pack("<Q", len(raw)) + raw
    return bytes(out)


def _attr_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


class Sym:
    """A tiny symbol builder: ``var`` and ``op`` return node indices."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.heads: list[int] = []

    def var(self, name: str, **attrs: Any) -> int:
        node: dict[str, Any] = {"op": "null", "name": name, "inputs": []}
        if attrs:
            node["attrs"] = {k: _attr_text(v) for k, v in attrs.items()}
        self.nodes.append(node)
        return len(self.nodes) - 1

    def op(self, op: str, name: str, inputs: list[int], **attrs: Any) -> int:
        self.nodes.append({
            "op": op,
            "name": name,
            "attrs": {k: _attr_text(v) for k, v in attrs.items()},
            "inputs": [[i, 0, 0] for i in inputs],
        })
        return len(self.nodes) - 1

    def to_json(self, layout: str = "1.x", heads: list[int] | None = None) -> dict[str, Any]:
        heads = heads if heads is not None else (self.heads or [len(self.nodes) - 1])
        nodes = json.loads(json.dumps(self.nodes))
        if layout == "0.x":  # pre-1.0: param + attr, backward_source_id, [id, index] inputs
            for node in nodes:
                node["param"] = node.pop("attrs", {})
                node["attr"] = {}
                node["backward_source_id"] = -1
                node["inputs"] = [e[:2] for e in node["inputs"]]
        data: dict[str, Any] = {
            "nodes": nodes,
            "arg_nodes": [i for i, n in enumerate(nodes) if n["op"] == "null"],
            "heads": [[h, 0] if layout == "0.x" else [h, 0, 0] for h in heads],
        }
        if layout == "1.x":
            data["node_row_ptr"] = list(range(len(nodes) + 1))
            data["attrs"] = {"mxnet_version": ["int", 10901]}
        return data


def write_checkpoint(directory: Path, sym: Sym | dict[str, Any], params: dict[str, Any],
                     prefix: str = "model", epoch: int = 0, layout: str = "1.x") -> Path:
    """Write ``<prefix>-symbol.json`` and ``<prefix>-NNNN.params``; return the symbol path."""
    data = sym.to_json(layout) if isinstance(sym, Sym) else sym
    symbol = directory / f"{prefix}-symbol.json"
    symbol.write_text(json.dumps(data, indent=2))
    (directory / f"{prefix}-{epoch:04d}.params").write_bytes(params_bytes(params))
    return symbol
