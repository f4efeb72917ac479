"""``symbol.json`` + ``.params`` -> :class:`faceport.ir.Graph`, with the cross-check.

* Variables (``op "null"``) wired into a weight slot of their consumer (see
  :mod:`~faceport.converters.mxnet.opspec`) become ``Node.params`` entries and must exist in
  the parameter file (``arg:`` or ``aux:``); a weight slot missing from a pre-0.9 JSON is named
  ``<node>_<role>`` as MXNet's JSON upgrader names it.
* Variables wired into a data slot and absent from the parameters are graph inputs
  (``data``); variables wired only into an output op's label slot are dropped.
* Tensor names: output 0 of a node is the node's name (RetinaFace's heads are therefore
  ``face_rpn_cls_prob_reshape_stride32`` ...), output ``k > 0`` is ``<node>_output<k>``; how
  many outputs an op has is :func:`~faceport.converters.mxnet.opspec.output_count`'s
  answer (1 for every single-output op), and using an output past it is an error.
* Every weight's shape is checked against the op attributes and the propagated channel count
  (:mod:`~faceport.converters.mxnet.shapes`); missing parameters are all named in one error,
  unused ones are logged and listed in ``meta["unused_params"]``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from faceport.converters.mxnet import opspec, shapes
from faceport.converters.mxnet.params import read_ndarray_list
from faceport.converters.mxnet.symbol import Symbol, SymbolNode, load_symbol
from faceport.errors import FaceportError, FormatError
from faceport.ir import Graph, Node, Source, TensorSpec

log = logging.getLogger(__name__)


def read_model(symbol_path: str | Path, params_path: str | Path) -> Graph:
    """Read a checkpoint pair into a validated IR graph (``meta`` without family info)."""
    symbol = load_symbol(symbol_path)
    args, aux = read_ndarray_list(params_path).split()
    return build_graph(symbol, {**args, **aux}, str(params_path))


def build_graph(symbol: Symbol, params: dict[str, np.ndarray], params_file: str) -> Graph:
    """Turn a validated :class:`Symbol` and its parameters into the IR."""
    live = symbol.reachable()
    nodes: list[Node] = []
    inputs: dict[str, int] = {}  # graph input name -> JSON index
    used: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for sym in symbol.nodes:
        if sym.op == "null" or not live[sym.index]:
            continue
        node = _build_node(symbol, sym, params, inputs, used, missing)
        nodes.append(node)
    if missing:
        raise FormatError(
            f"parameter file lacks {len(missing)} parameter(s) the symbol needs: "
            + ", ".join(missing[:20])
            + (" ..." if len(missing) > 20 else ""),
            file=params_file,
            field="names",
        )
    channels = _cross_check(nodes, used, inputs)
    specs = tuple(
        TensorSpec(name, _input_shape(symbol.nodes[idx], channels.get(name)))
        for name, idx in inputs.items()
    )
    unused = sorted(set(params) - set(used))
    if unused:
        log.warning("%s: %d parameter(s) not used by the symbol: %s", params_file, len(unused),
                    ", ".join(unused[:10]))
    outputs = tuple(_tensor(symbol, nid, out, f"heads[{i}]") for i, (nid, out) in
                    enumerate(symbol.heads))
    meta = {"unused_params": unused, "mxnet_version": symbol.mxnet_version}
    graph = Graph("mxnet", specs, tuple(nodes), outputs, used, meta)
    return graph.validate()


def _build_node(
    symbol: Symbol,
    sym: SymbolNode,
    params: dict[str, np.ndarray],
    inputs: dict[str, int],
    used: dict[str, np.ndarray],
    missing: list[str],
) -> Node:
    source = Source(file=symbol.file, key=f"nodes[{sym.index}]")
    bare = Node(sym.op, sym.name, (), (sym.name,), dict(sym.attrs), {}, source)
    outputs = tuple(tensor_name(sym.name, k) for k in range(_outputs(symbol, sym)))
    roles = opspec.input_roles(bare)
    if roles and len(sym.inputs) > len(roles):
        raise FormatError(
            f"{sym.op} node {sym.name!r} has too many inputs",
            file=symbol.file,
            field=f"{sym.where}.inputs",
            expected=f"<= {len(roles)} ({', '.join(roles)})",
            found=len(sym.inputs),
        )
    tensors: list[str] = []
    weights: dict[str, str] = {}
    for slot, (nid, out) in enumerate(sym.inputs):
        role = roles[slot] if roles else opspec.DATA
        src = symbol.nodes[nid]
        where = f"{sym.where}.inputs[{slot}]"
        if role == opspec.LABEL:
            continue
        if role == opspec.DATA:
            if src.op == "null":
                if src.name in params:
                    raise FormatError(
                        f"a stored parameter ({src.name!r}) feeds a data input of {sym.op} "
                        f"{sym.name!r}: constant tensors are not supported",
                        file=symbol.file,
                        field=where,
                    )
                inputs.setdefault(src.name, nid)
            tensors.append(_tensor(symbol, nid, out, where))
            continue
        if src.op != "null":
            raise FormatError(
                f"the {role} of {sym.op} {sym.name!r} is computed by {src.op} {src.name!r}; "
                "only stored weights are supported",
                file=symbol.file,
                field=where,
            )
        weights[role] = src.name
    for role in roles[len(sym.inputs):]:  # pre-0.9 JSON: aux variables not listed
        if role not in (opspec.DATA, opspec.LABEL):
            weights[role] = f"{sym.name}_{role}"
    if not tensors:
        raise FormatError(f"{sym.op} node {sym.name!r} has no data input", file=symbol.file,
                          field=f"{sym.where}.inputs")
    for key in weights.values():
        if key in params:
            used[key] = params[key]
        elif key not in missing:
            missing.append(key)
    return Node(sym.op, sym.name, tuple(tensors), outputs, dict(sym.attrs), weights, source)


def tensor_name(node: str, index: int) -> str:
    """The IR tensor of output ``index`` of MXNet node ``node``."""
    return node if index == 0 else f"{node}_output{index}"


def _outputs(symbol: Symbol, sym: SymbolNode) -> int:
    bare = Node(sym.op, sym.name, (), (sym.name,), dict(sym.attrs))
    try:
        return opspec.output_count(bare)
    except FaceportError as exc:
        raise FormatError(exc.message, file=symbol.file, field=f"{sym.where}.attrs",
                          expected=exc.expected, found=exc.found) from None  # fmt: skip


def _tensor(symbol: Symbol, nid: int, out: int, where: str) -> str:
    node = symbol.nodes[nid]
    count = 1 if node.op == "null" else _outputs(symbol, node)
    if not 0 <= out < count:
        raise FormatError(
            f"output {out} of {node.op} {node.name!r} is used; it has {count}",
            file=symbol.file,
            field=where,
            expected=f"0..{count - 1}",
            found=out,
        )
    return tensor_name(node.name, out)


def _cross_check(
    nodes: list[Node], params: dict[str, np.ndarray], inputs: dict[str, int]
) -> dict[str, int | None]:
    """Check weight shapes node by node; return each graph input's inferred channel count."""
    channels: dict[str, int | None] = dict.fromkeys(inputs)
    first_consumer: dict[str, int | None] = {}
    for node in nodes:
        out = shapes.check_node(node, params, [channels.get(t) for t in node.inputs])
        for tensor in node.inputs:
            if tensor in inputs and tensor not in first_consumer and node.params.get("weight"):
                weight = params[node.params["weight"]]
                if node.op == "Convolution" and weight.ndim >= 2:
                    group = node.attrs.get("num_group", 1)
                    first_consumer[tensor] = int(weight.shape[1]) * int(group or 1)
                    channels[tensor] = first_consumer[tensor]
        for tensor in node.outputs:  # a split's parts: known when the split is not on axis 1
            channels[tensor] = out if len(node.outputs) == 1 else None
    return {name: channels.get(name) for name in inputs}


def _input_shape(var: SymbolNode, channels: int | None) -> tuple[int | None, ...]:
    declared = var.hidden.get("__shape__")
    if isinstance(declared, list) and declared and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in declared
    ):
        return tuple(d if d > 0 else None for d in declared)
    return (None, channels, None, None)
