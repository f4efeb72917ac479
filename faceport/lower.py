"""Lower an IR :class:`~faceport.ir.Graph` to a ``torch.fx.GraphModule``.

This is the single place the IR becomes torch: every node's converter (looked up in
:mod:`faceport.registry`) yields a submodule that is attached under the node's source name
(sanitised to a Python identifier), so ``gm.conv4_3`` or ``gm.ssh_c3_up`` is where a user
expects it. Both exporters and every torch-based runner start from this module.
"""

from __future__ import annotations

import keyword
import operator
import re
from collections.abc import Sequence
from typing import Any

from faceport.errors import FormatError
from faceport.ir import Graph
from faceport.registry import LowerContext, converter_for

_IDENT = re.compile(r"[^0-9a-zA-Z_]")


def module_name(name: str, taken: set[str]) -> str:
    """A unique Python identifier for a source layer name (``conv4_3`` stays ``conv4_3``)."""
    ident = _IDENT.sub("_", name) or "node"
    if ident[0].isdigit() or keyword.iskeyword(ident) or ident in {"forward", "training"}:
        ident = f"n_{ident}"
    candidate, k = ident, 1
    while candidate in taken:
        k += 1
        candidate = f"{ident}_{k}"
    taken.add(candidate)
    return candidate


def lower(
    graph: Graph,
    outputs: Sequence[str] | None = None,
    *,
    options: dict[str, Any] | None = None,
) -> Any:
    """Build a ``torch.fx.GraphModule`` computing ``outputs`` (default: the graph's outputs).

    The module takes the graph inputs positionally and returns one tensor when one output is
    asked for, else a tuple in the order of ``outputs``. Asking for intermediate tensor names
    is how per-layer comparisons tap the network. ``gm.meta["faceport"]`` records the input and
    output names and the node -> submodule name mapping.
    """
    from torch import fx, nn

    wanted = list(graph.outputs if outputs is None else outputs)
    ctx = LowerContext(graph=graph, options=dict(options or {}))
    root = nn.Module()
    fx_graph = fx.Graph()
    env: dict[str, fx.Node] = {}
    taken: set[str] = set()
    for spec in graph.inputs:
        env[spec.name] = fx_graph.placeholder(module_name(spec.name, taken))
    modules: dict[str, str] = {}
    for node in graph.nodes:
        module = converter_for(graph.framework, node)(node, ctx)
        target = module_name(node.name, taken)
        root.add_module(target, module)
        modules[node.name] = target
        args = tuple(env[t] for t in node.inputs)
        call = fx_graph.call_module(target, args)
        if len(node.outputs) == 1:
            env[node.outputs[0]] = call
        else:
            for i, tensor in enumerate(node.outputs):
                env[tensor] = fx_graph.call_function(operator.getitem, (call, i))
    missing = [t for t in wanted if t not in env]
    if missing:
        raise FormatError(f"requested outputs {missing} are not tensors of this graph")
    result = env[wanted[0]] if len(wanted) == 1 else tuple(env[t] for t in wanted)
    fx_graph.output(result)
    gm = fx.GraphModule(root, fx_graph, class_name=_class_name(graph))
    gm.eval()
    for p in gm.parameters():
        p.requires_grad_(False)
    gm.meta["faceport"] = {
        "inputs": [s.name for s in graph.inputs],
        "outputs": wanted,
        "modules": modules,
        "framework": graph.framework,
    }
    return gm


def _class_name(graph: Graph) -> str:
    from faceport.kinds import info_of

    family = info_of(graph).family or graph.framework
    return "".join(part.capitalize() for part in _IDENT.sub("_", family).split("_")) + "Net"
