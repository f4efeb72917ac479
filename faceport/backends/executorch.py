"""ExecuTorch with the XNNPACK delegate (CPU): the ``.pte`` faceport writes
(``export --format pte``), run by the ExecuTorch runtime. A program is planned for one input
size, so the runner writes one per fed shape (cached for its life), as the OpenCV one does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends import Backend, LoadOptions, with_outputs
from faceport.backends.base import Feed, Outputs, Runner
from faceport.errors import FaceportError

if TYPE_CHECKING:
    from faceport.ir import Graph


class ExecuTorchRunner(Runner):
    def __init__(self, graph: Graph, *, name: str) -> None:
        super().__init__()
        self.graph = graph
        self.name = name
        self.methods: dict[tuple[int, ...], Any] = {}

    def why_unavailable(self) -> str | None:
        from faceport.exporters.executorch import why_unavailable

        return why_unavailable()

    def activate(self) -> None:
        self.methods.clear()

    def run(self, feed: Feed) -> Outputs:
        import torch

        from faceport.exporters.executorch import load_method, pte_bytes

        if len(self.graph.inputs) != 1:
            raise FaceportError("the ExecuTorch runner takes networks with one input",
                                found=[s.name for s in self.graph.inputs])  # fmt: skip
        x = np.ascontiguousarray(feed[self.graph.inputs[0].name], dtype=np.float32)
        if x.shape not in self.methods:
            data, _, _ = pte_bytes(self.graph, (x.shape[2], x.shape[3]), x.shape[0])
            self.methods[x.shape] = load_method(data)
        values = self.methods[x.shape].execute([torch.from_numpy(x)])
        return {n: np.asarray(v.float().numpy()) for n, v in zip(self.graph.outputs, values)}

    def deactivate(self) -> None:
        self.methods.clear()


def load_pte(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> Graph:
    return with_outputs(graph, outputs, options)


def open_pte(graph: Graph, entry: Backend, options: LoadOptions) -> Runner:
    return ExecuTorchRunner(graph, name=entry.name)


def _unavailable(entry: Backend) -> str | None:
    from faceport.exporters.executorch import why_unavailable

    return why_unavailable()


BACKENDS = (
    Backend(
        name="executorch-xnnpack-cpu", device="cpu", dtype="float32", load=load_pte,
        runner=open_pte, unavailable=_unavailable, options=frozenset({"optimize"}), taps=False,
        summary="ExecuTorch .pte (XNNPACK delegate) at each fed shape, CPU",
    ),
)  # fmt: skip
