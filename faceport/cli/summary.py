"""Human-readable summaries of a graph (layer table, parameter counts)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from faceport.ir import Graph
from faceport.kinds import info_of, kind_of


def op_counts(graph: Graph) -> Counter[str]:
    return Counter(node.op for node in graph.nodes)


def layer_rows(graph: Graph) -> list[tuple[str, str, str, str]]:
    """(node name, op, parameter shapes, source) for each node."""
    rows = []
    for node in graph.nodes:
        shapes = ", ".join(
            f"{role}{list(graph.params[key].shape)}" for role, key in node.params.items()
        )
        rows.append((node.name, node.op, shapes, str(node.source)))
    return rows


def print_summary(graph: Graph, *, layers: bool = True) -> None:
    """Print the layer table and totals with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if layers:
        info = info_of(graph)
        table = Table(title=f"{info.family} {kind_of(graph).title}", show_lines=False)
        for column in ("node", "op", "params", "source"):
            table.add_column(column, overflow="fold")
        for row in layer_rows(graph):
            table.add_row(*row)
        console.print(table)
    counts = ", ".join(f"{op} x{n}" for op, n in sorted(op_counts(graph).items()))
    nbytes = sum(int(np.asarray(a).nbytes) for a in graph.params.values())
    console.print(f"nodes: {len(graph.nodes)} ({counts})")
    console.print(
        f"parameters: {graph.param_count():,} in {len(graph.params)} tensors "
        f"({nbytes / 1e6:.2f} MB)"
    )
    console.print("inputs: " + ", ".join(f"{s.name}{list(s.shape)}" for s in graph.inputs))
    console.print("outputs: " + ", ".join(graph.outputs))
    for source in info_of(graph).sources:
        console.print(f"source: {source.file} sha256 {source.sha256}")
