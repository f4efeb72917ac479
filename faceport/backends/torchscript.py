"""TorchScript (scripted, or traced where scripting fails: :func:`faceport.exporters.
torchscript.to_torchscript`) on CPU or CUDA; ``freeze`` adds ``torch.jit.freeze`` and
``optimize_for_inference`` (torch's own conv/bn folding and, on CPU, MKL-DNN weight prepacking)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.backends import Backend, LoadOptions, prepared
from faceport.backends.base import Runner
from faceport.backends.torch_eager import TorchModuleRunner, cuda_unavailable

if TYPE_CHECKING:
    from faceport.ir import Graph

log = logging.getLogger(__name__)


def load_scripted(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> Any:
    """``(module, input names, output names, note)``; the module as exported."""
    import torch

    from faceport.exporters.torchscript import to_torchscript

    source = prepared(graph, options)
    module, method, _ = to_torchscript(source)
    note = method
    if options.freeze:
        try:
            module = torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))
            note += ", frozen + optimize_for_inference"
        except Exception as exc:  # an optional optimisation: keep the plain module
            log.warning("optimize_for_inference failed: %s", exc)
    return module, [s.name for s in source.inputs], list(source.outputs), note


def open_scripted(artifact: Any, entry: Backend, options: LoadOptions) -> Runner:
    module, inputs, outputs, _ = artifact
    return TorchModuleRunner(
        module.to(entry.device), inputs, outputs, name=entry.name, device=entry.device
    )


def _unavailable(entry: Backend) -> str | None:
    return cuda_unavailable(entry.device)


def _entry(device: str) -> Backend:
    return Backend(
        name=f"torchscript-{device}", device=device, dtype="float32", load=load_scripted,
        runner=open_scripted, unavailable=_unavailable, options=frozenset({"optimize", "freeze"}),
        taps=False, summary=f"TorchScript export (script, else trace) on {device}",
    )  # fmt: skip


BACKENDS = (_entry("cpu"), _entry("cuda"))
