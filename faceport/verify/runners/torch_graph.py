"""Runner for faceport's own lowered graph (``torch.fx.GraphModule``) on CPU or CUDA."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner


def cuda_unavailable(device: str) -> str | None:
    """Why ``device`` cannot run here: a ``cuda*`` device with no CUDA torch, else ``None``."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device (run on a machine with an NVIDIA GPU and CUDA torch)"
    return None


def run_torch_module(
    module: Any, graph: Graph, feed: Feed, names: Sequence[str], device: str, dtype: str
) -> Outputs:
    """Feed ``graph``'s inputs (cast to ``dtype`` on ``device``) to ``module``; outputs as
    float32 numpy arrays keyed by ``names`` in the module's output order."""
    import torch

    torch_dtype = getattr(torch, dtype)
    args = [
        torch.from_numpy(np.ascontiguousarray(feed[spec.name])).to(device, torch_dtype)
        for spec in graph.inputs
    ]
    with torch.inference_mode():
        result = module(*args)
    values = result if isinstance(result, tuple) else (result,)
    return {name: value.float().cpu().numpy() for name, value in zip(names, values)}


class TorchGraphRunner(Runner):
    """Lower ``graph`` (optionally tapping intermediate tensors) and run it with torch.

    ``outputs`` defaults to the graph outputs; pass node output names to tap layers.
    ``dtype`` is ``float32``, ``float16`` or ``bfloat16`` (compute dtype; results are
    returned as float32).
    """

    def __init__(
        self,
        graph: Graph,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        outputs: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.graph = graph
        self.device = device
        self.dtype = dtype
        self.output_names = list(graph.outputs if outputs is None else outputs)
        self.name = name or f"torch-{device}" + ("" if dtype == "float32" else f"-{dtype}")
        self._module: Any = None

    def why_unavailable(self) -> str | None:
        return cuda_unavailable(self.device)

    def activate(self) -> None:
        import torch

        from faceport.lower import lower

        module = lower(self.graph, self.output_names)
        self._module = module.to(device=self.device, dtype=getattr(torch, self.dtype))

    def run(self, feed: Feed) -> Outputs:
        return run_torch_module(
            self._module, self.graph, feed, self.output_names, self.device, self.dtype
        )

    def deactivate(self) -> None:
        self._module = None
