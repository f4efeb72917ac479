"""torch.export on CPU: the ``.pt2`` ExportedProgram faceport writes (``export --format pt2``),
saved and loaded back, run as ``program.module()``.

The loader writes the dynamic program (:func:`faceport.exporters.torch_export.export_pt2`:
H, W dynamic where a range valid for every probed size exists); where none does (mnet.25's
crops want multiples of 32) the runner writes one fixed-shape program per fed shape instead.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends import Backend, LoadOptions, with_outputs
from faceport.backends.base import Feed, Outputs, Runner
from faceport.errors import ExportError, FaceportError

if TYPE_CHECKING:
    from faceport.ir import Graph


class ProgramRunner(Runner):
    """Runs ``.pt2`` programs of ``graph``: the dynamic one, else one per input shape."""

    def __init__(self, graph: Graph, workdir: Path, *, name: str) -> None:
        super().__init__()
        self.graph = graph
        self.workdir = workdir
        self.name = name
        self.dynamic: Any = None
        self.fixed: dict[tuple[int, ...], Any] = {}
        self.note = ""

    def activate(self) -> None:
        try:
            self.dynamic = self._load(self.workdir / "model.pt2")
        except ExportError as exc:
            self.note = f"fixed shapes: {exc.message[:200]}"

    def _load(self, path: Path, size: tuple[int, int] | None = None, batch: int = 1) -> Any:
        import torch

        from faceport.exporters.torch_export import export_pt2

        export_pt2(self.graph, path, size=size, batch=batch)
        return torch.export.load(io.BytesIO(path.read_bytes())).module()

    def run(self, feed: Feed) -> Outputs:
        import torch

        if len(self.graph.inputs) != 1:
            raise FaceportError("the torch.export runner takes networks with one input",
                                found=[s.name for s in self.graph.inputs])  # fmt: skip
        x = torch.from_numpy(np.ascontiguousarray(feed[self.graph.inputs[0].name], np.float32))
        module = self.dynamic if self.dynamic is not None and x.shape[0] == 1 else None
        if module is None:
            shape = tuple(x.shape)
            if shape not in self.fixed:
                path = self.workdir / f"model_{'x'.join(map(str, shape))}.pt2"
                self.fixed[shape] = self._load(path, size=(shape[2], shape[3]), batch=shape[0])
            module = self.fixed[shape]
        with torch.no_grad():
            out = module(x)
        values = out if isinstance(out, (tuple, list)) else (out,)
        return {n: v.float().numpy() for n, v in zip(self.graph.outputs, values)}

    def deactivate(self) -> None:
        self.dynamic = None
        self.fixed.clear()


def load_program(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> tuple[Graph, Path]:
    return with_outputs(graph, outputs, options), workdir


def open_program(artifact: tuple[Graph, Path], entry: Backend, options: LoadOptions) -> Runner:
    graph, workdir = artifact
    return ProgramRunner(graph, workdir, name=entry.name)


BACKENDS = (
    Backend(
        name="torch-export-cpu", device="cpu", dtype="float32", load=load_program,
        runner=open_program, unavailable=lambda entry: None, options=frozenset({"optimize"}),
        taps=False, summary="torch.export .pt2 program (dynamic H, W where valid), CPU",
    ),
)  # fmt: skip
