"""Per-layer localisation: find the first layer where two implementations part.

Both sides expose intermediate tensors under the IR's node names (faceport taps them with
``lower(graph, outputs=[...])``; reference runners map their own layer ids to the same names
through the IR's provenance). Layers are walked in topological order; the first one beyond
tolerance is the culprit, and the table shows how the error grows afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceport.ir import Graph
from faceport.tolerance import Tolerance
from faceport.verify.compare import OutputCompareResult, compare_arrays


@dataclass(frozen=True)
class LayerError:
    name: str
    op: str
    result: OutputCompareResult

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, **self.result.to_json()}


@dataclass(frozen=True)
class LocalisationResult:
    """Layer-by-layer comparison in topological order."""

    reference: str
    candidate: str
    layers: tuple[LayerError, ...]
    skipped: tuple[str, ...] = ()

    @property
    def first_divergence(self) -> LayerError | None:
        return next((layer for layer in self.layers if not layer.result), None)

    def __bool__(self) -> bool:
        return self.first_divergence is None

    def __str__(self) -> str:
        first = self.first_divergence
        head = (
            f"{self.candidate} vs {self.reference}: all {len(self.layers)} layers within tolerance"
            if first is None
            else f"{self.candidate} vs {self.reference}: first divergence at layer "
            f"{first.name!r} ({first.op}): {first.result}"
        )
        rows = [head]
        for layer in self.layers:
            mark = "  " if layer.result else "!!"
            rows.append(
                f" {mark} {layer.name:<32} {layer.op:<20} max-abs {layer.result.max_abs:10.3g}"
                f"  rel-to-scale {layer.result.rel_to_scale:10.3g}"
            )
        return "\n".join(rows)

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergence
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "first_divergence": None if first is None else first.name,
            "layers": [layer.to_json() for layer in self.layers],
            "skipped": list(self.skipped),
        }


def tap_names(graph: Graph) -> list[str]:
    """Every node output tensor of ``graph``, in topological order."""
    return [tensor for node in graph.nodes for tensor in node.outputs]


def localise(
    graph: Graph,
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    reference_name: str = "reference",
    candidate_name: str = "faceport",
    tolerance: Tolerance | None = None,
    names: Sequence[str] | None = None,
) -> LocalisationResult:
    """Compare every tensor both sides have, walking ``graph`` in topological order."""
    ops = {tensor: node.op for node in graph.nodes for tensor in node.outputs}
    layers: list[LayerError] = []
    skipped: list[str] = []
    for name in names if names is not None else tap_names(graph):
        if name not in reference or name not in candidate:
            skipped.append(name)
            continue
        result = compare_arrays(name, reference[name], candidate[name], tolerance)
        layers.append(LayerError(name, ops.get(name, "?"), result))
    return LocalisationResult(reference_name, candidate_name, tuple(layers), tuple(skipped))
