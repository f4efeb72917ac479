"""Reader and validator for MXNet's ``symbol.json`` (nnvm graph JSON, every version).

Layouts seen in the wild (nnvm ``LoadJSON`` accepts all of them):

* MXNet >= 1.0: node ``{"op", "name", "attrs": {str: str}, "inputs": [[id, index, version]]}``
  and a top-level ``"attrs": {"mxnet_version": ["int", 10400]}``;
* pre-1.0 (0.8 - 0.12): operator parameters under ``"param"`` and user attributes under
  ``"attr"``, a ``"backward_source_id"`` int per node, inputs as ``[id, index]``; files older
  than 0.9 do not list BatchNorm's auxiliary (moving_mean / moving_var) variables at all
  (MXNet's ``UpgradeJSON_000800_000900`` adds them as ``<node>_<input name>``: the reader
  does the same).

Nodes are topologically ordered: an input may only name an earlier node, so forward references
and cycles are both rejected by the same check. ``arg_nodes`` must name variable (``op
"null"``) nodes, ``heads`` must name existing node outputs, ``node_row_ptr`` (when present)
must be the running count of outputs. Validation is iterative (no recursion) and every defect
is a :class:`FormatError` naming the file and the JSON node (index and name).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from faceport.converters.mxnet.attrs import parse_value
from faceport.errors import FormatError

MAX_SYMBOL_BYTES = 256 * 1024 * 1024
MAX_OUTPUTS_PER_NODE = 4096
#: pre-1.0 user attributes (``attr``) that nnvm renames to ``__key__``: not op parameters
HIDDEN_KEYS = frozenset({"ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage"})


@dataclass(frozen=True)
class SymbolNode:
    """One JSON node: ``inputs`` are ``(node index, output index)`` pairs."""

    index: int
    op: str
    name: str
    inputs: tuple[tuple[int, int], ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    hidden: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"nodes[{self.index}] ({self.name})"


@dataclass(frozen=True)
class Symbol:
    """A validated symbol: nodes in file order, the heads, the MXNet version if recorded."""

    file: str
    nodes: tuple[SymbolNode, ...]
    heads: tuple[tuple[int, int], ...]
    arg_nodes: tuple[int, ...]
    mxnet_version: int | None = None

    def reachable(self) -> list[bool]:
        """Which nodes the heads depend on (iterative walk, no recursion)."""
        seen = [False] * len(self.nodes)
        stack = [nid for nid, _ in self.heads]
        while stack:
            nid = stack.pop()
            if seen[nid]:
                continue
            seen[nid] = True
            stack.extend(src for src, _ in self.nodes[nid].inputs)
        return seen


def _fail(
    file: str, message: str, field_: str, expected: Any = None, found: Any = None
) -> NoReturn:
    raise FormatError(message, file=file, field=field_, expected=expected, found=found)


def load_symbol(path: str | Path, text: str | bytes | None = None) -> Symbol:
    """Read and validate ``path`` (or ``text`` standing for its contents)."""
    file = str(path)
    if text is None:
        try:
            size = Path(path).stat().st_size
            if size > MAX_SYMBOL_BYTES:
                _fail(file, "symbol file too large", "size", f"<= {MAX_SYMBOL_BYTES}", size)
            text = Path(path).read_bytes()
        except OSError as exc:
            raise FormatError(f"cannot read symbol file: {exc.strerror}", file=file) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg}", file=file, line=exc.lineno,
                          field=f"column {exc.colno}") from None
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise FormatError(f"not readable JSON: {type(exc).__name__}", file=file) from None
    return parse_symbol(data, file)


def parse_symbol(data: Any, file: str) -> Symbol:
    """Validate decoded JSON ``data`` into a :class:`Symbol`."""
    if not isinstance(data, dict):
        _fail(file, "symbol JSON is not an object", "<root>", "object", type(data).__name__)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        _fail(file, "symbol has no node list", "nodes", "non-empty list", _kind(raw_nodes))
    nodes: list[SymbolNode] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(raw_nodes):
        node = _parse_node(file, index, raw, len(nodes))
        if node.name in names:
            _fail(file, f"duplicate node name {node.name!r}", f"{node.where}.name",
                  "unique names", f"also nodes[{names[node.name]}]")
        names[node.name] = index
        nodes.append(node)
    heads = tuple(
        _entry(file, "heads", i, e, len(nodes)) for i, e in enumerate(_list(file, data, "heads"))
    )
    if not heads:
        _fail(file, "symbol has no outputs", "heads", "non-empty list", [])
    for i, (nid, _) in enumerate(heads):
        if nodes[nid].op == "null":
            _fail(file, f"output is a variable ({nodes[nid].name!r}), not an op", f"heads[{i}]")
    raw_args = data.get("arg_nodes", [])
    if not isinstance(raw_args, list):
        _fail(file, "arg_nodes is not a list", "arg_nodes", "list", _kind(raw_args))
    arg_nodes = []
    for i, nid in enumerate(raw_args):
        if not _is_int(nid) or not 0 <= nid < len(nodes):
            _fail(file, "arg_nodes entry out of range", f"arg_nodes[{i}]",
                  f"0..{len(nodes) - 1}", nid)
        if nodes[nid].op != "null":
            _fail(file, "arg_nodes entry is not a variable", f"arg_nodes[{i}]",
                  "a node with op 'null'", f"{nodes[nid].where} op {nodes[nid].op!r}")
        arg_nodes.append(nid)
    _check_row_ptr(file, data.get("node_row_ptr"), nodes, heads)
    return Symbol(file, tuple(nodes), heads, tuple(arg_nodes), _version(file, data))


def _parse_node(file: str, index: int, raw: Any, defined: int) -> SymbolNode:
    where = f"nodes[{index}]"
    if not isinstance(raw, dict):
        _fail(file, "node is not an object", where, "object", _kind(raw))
    name = raw.get("name")
    op = raw.get("op")
    if not isinstance(name, str) or not name:
        _fail(file, "node has no name", f"{where}.name", "non-empty string", name)
    where = f"{where} ({name})"
    if not isinstance(op, str) or not op:
        _fail(file, "node has no op", f"{where}.op", "string ('null' for variables)", op)
    inputs_raw = raw.get("inputs", [])
    if not isinstance(inputs_raw, list):
        _fail(file, "node inputs is not a list", f"{where}.inputs", "list", _kind(inputs_raw))
    inputs = tuple(_entry(file, f"{where}.inputs", i, e, defined) for i, e in enumerate(inputs_raw))
    if op == "null" and inputs:
        _fail(file, "variable node has inputs", f"{where}.inputs", [], len(inputs))
    bsid = raw.get("backward_source_id", -1)
    if not _is_int(bsid):
        _fail(file, "backward_source_id is not an integer", f"{where}.backward_source_id",
              "int", bsid)
    attrs: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    for key in ("param", "attr", "attrs"):  # later layouts win, as nnvm merges them
        block = raw.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            _fail(file, f"node {key} is not an object", f"{where}.{key}", "object", _kind(block))
        for k, v in block.items():
            if not isinstance(v, str):
                _fail(file, "attribute value is not a string", f"{where}.{key}.{k}", "string",
                      _kind(v))
            value = parse_value(v, file=file, field=f"{where}.{key}.{k}")
            if k.startswith("__") or k in HIDDEN_KEYS:
                hidden[k] = value
            else:
                attrs[k] = value
    return SymbolNode(index, op, name, inputs, attrs, hidden)


def _entry(file: str, where: str, i: int, raw: Any, limit: int) -> tuple[int, int]:
    """``[node, index]`` or ``[node, index, version]`` naming a node before ``limit``."""
    field_ = f"{where}[{i}]"
    if not isinstance(raw, list) or len(raw) not in (2, 3) or not all(_is_int(v) for v in raw):
        _fail(file, "bad node entry", field_, "[node id, output index(, version)]", raw)
    nid, out = raw[0], raw[1]
    if not 0 <= nid < limit:
        why = "refers forward (or to itself): cycle or bad order" if nid >= 0 else "is negative"
        _fail(file, f"node entry {why}", field_, f"0..{limit - 1}", nid)
    if not 0 <= out < MAX_OUTPUTS_PER_NODE or (len(raw) == 3 and raw[2] < 0):
        _fail(file, "bad output index or version", field_, "small non-negative ints", raw)
    return nid, out


def _check_row_ptr(
    file: str, ptr: Any, nodes: list[SymbolNode], heads: tuple[tuple[int, int], ...]
) -> None:
    if ptr is None:
        return
    if (
        not isinstance(ptr, list)
        or len(ptr) != len(nodes) + 1
        or not all(_is_int(v) for v in ptr)
        or ptr[0] != 0
        or any(b <= a for a, b in itertools.pairwise(ptr))
    ):
        _fail(file, "node_row_ptr is not the running count of node outputs", "node_row_ptr",
              f"{len(nodes) + 1} increasing ints from 0", _kind(ptr))
    for i, (nid, out) in enumerate(heads):
        if out >= ptr[nid + 1] - ptr[nid]:
            _fail(file, "head names an output the node does not have", f"heads[{i}]",
                  f"index < {ptr[nid + 1] - ptr[nid]}", out)
    for node in nodes:
        for j, (nid, out) in enumerate(node.inputs):
            if out >= ptr[nid + 1] - ptr[nid]:
                _fail(file, "input names an output the node does not have",
                      f"{node.where}.inputs[{j}]", f"index < {ptr[nid + 1] - ptr[nid]}", out)


def _version(file: str, data: dict[str, Any]) -> int | None:
    attrs = data.get("attrs")
    if not isinstance(attrs, dict):
        return None
    value = attrs.get("mxnet_version")
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and _is_int(value[1])):
        _fail(file, "bad mxnet_version", "attrs.mxnet_version", '["int", N]', value)
    return int(value[1])


def _list(file: str, data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        _fail(file, f"symbol {key} is not a list", key, "list", _kind(value))
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "absent" if value is None else type(value).__name__
