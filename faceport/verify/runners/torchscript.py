"""TorchScript (scripted, or traced where scripting fails) on CPU or CUDA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner
from faceport.verify.runners.torch_graph import cuda_unavailable, run_torch_module


class TorchScriptRunner(Runner):
    def __init__(self, graph: Graph, *, device: str = "cpu") -> None:
        super().__init__()
        self.graph = graph
        self.device = device
        self.name = f"torchscript-{device.split(':')[0]}"
        self._module: Any = None

    def why_unavailable(self) -> str | None:
        return cuda_unavailable(self.device)

    def activate(self) -> None:
        from faceport.exporters.torchscript import to_torchscript

        module, _, _ = to_torchscript(self.graph)
        self._module = module.to(self.device)

    def run(self, feed: Feed) -> Outputs:
        return run_torch_module(
            self._module, self.graph, feed, self.graph.outputs, self.device, "float32"
        )

    def deactivate(self) -> None:
        self._module = None


def make_cpu(graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    return TorchScriptRunner(graph, device="cpu")


def make_cuda(graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    return TorchScriptRunner(graph, device="cuda")
