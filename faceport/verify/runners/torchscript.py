"""TorchScript (scripted, or traced where scripting fails) on CPU or CUDA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner


class TorchScriptRunner(Runner):
    def __init__(self, graph: Graph, *, device: str = "cpu") -> None:
        super().__init__()
        self.graph = graph
        self.device = device
        self.name = f"torchscript-{device.split(':')[0]}"
        self._module: Any = None

    def why_unavailable(self) -> str | None:
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                return "no CUDA device"
        return None

    def activate(self) -> None:
        from faceport.exporters.torchscript import to_torchscript

        module, _, _ = to_torchscript(self.graph)
        self._module = module.to(self.device)

    def run(self, feed: Feed) -> Outputs:
        import torch

        args = [
            torch.from_numpy(np.ascontiguousarray(feed[s.name], dtype=np.float32)).to(self.device)
            for s in self.graph.inputs
        ]
        with torch.inference_mode():
            result = self._module(*args)
        values = result if isinstance(result, tuple) else (result,)
        return {n: v.float().cpu().numpy() for n, v in zip(self.graph.outputs, values)}

    def deactivate(self) -> None:
        self._module = None


def make_cpu(graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    return TorchScriptRunner(graph, device="cpu")


def make_cuda(graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    return TorchScriptRunner(graph, device="cuda")
