"""Backend names -> runners over faceport's converted forms.

Names: ``torch-cpu``, ``torch-cuda``, ``torch-cuda-float16``, ``torch-cuda-bfloat16``,
``torchscript-cpu``, ``torchscript-cuda``, ``onnxruntime-cpu`` (the latter three once the
exporters provide them). ``all`` expands to every name; unavailable ones are skipped with a reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.verify.runners.base import Feed, Outputs, Runner

TORCH = {
    "torch-cpu": ("cpu", "float32"),
    "torch-cuda": ("cuda", "float32"),
    "torch-cuda-float16": ("cuda", "float16"),
    "torch-cuda-bfloat16": ("cuda", "bfloat16"),
}
# Runners living in other modules: name -> "module:factory(graph, outputs) -> Runner".
EXTERNAL = {
    "torchscript-cpu": "faceport.verify.runners.torchscript:make_cpu",
    "torchscript-cuda": "faceport.verify.runners.torchscript:make_cuda",
    "onnxruntime-cpu": "faceport.verify.runners.onnxruntime:make_cpu",
}
ALL = (*TORCH, *EXTERNAL)


def expand(names: Sequence[str]) -> list[str]:
    """Resolve ``all`` and check names."""
    out: list[str] = []
    for name in names:
        for item in ALL if name == "all" else (name,):
            if item not in ALL:
                raise FaceportError(f"unknown backend {item!r}; known: {', '.join(ALL)}, all")
            if item not in out:
                out.append(item)
    return out


def make_runner(name: str, graph: Graph, outputs: Sequence[str] | None = None) -> Runner:
    """A runner for backend ``name`` (may be unavailable: check ``why_unavailable()``)."""
    if name in TORCH:
        from faceport.verify.runners.torch_graph import TorchGraphRunner

        device, dtype = TORCH[name]
        return TorchGraphRunner(graph, device=device, dtype=dtype, outputs=outputs, name=name)
    module_name, _, factory = EXTERNAL[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return _Missing(name, f"backend module not available ({exc})")
    runner: Runner = getattr(module, factory)(graph, outputs)
    return runner


class _Missing(Runner):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__()
        self.name = name
        self._reason = reason

    def why_unavailable(self) -> str | None:
        return self._reason

    def activate(self) -> None:  # pragma: no cover - never activated
        raise NotImplementedError

    def run(self, feed: Feed) -> Outputs:  # pragma: no cover - never activated
        raise NotImplementedError
