"""Export a converted graph to TorchScript (scripted; traced only where scripting fails).

``torch.jit.script`` on the lowered ``GraphModule`` keeps shape logic (Crop offsets, dynamic
reshapes) symbolic, so one file serves every input size. If a converter's module uses Python
that TorchScript cannot compile, ``method="auto"`` falls back to ``torch.jit.trace`` on an
example input and records ``faceport.torchscript_method = trace`` — a traced file is only
valid for inputs whose shape-dependent Python branches match the example. The deploy
metadata goes into the archive as the extra file ``faceport.json``.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceport.atomic import atomic_path
from faceport.errors import ExportError
from faceport.exporters.metadata import deploy_metadata, example_shape
from faceport.ir import Graph

log = logging.getLogger(__name__)
EXTRA_FILE = "faceport.json"


@dataclass(frozen=True)
class TorchScriptExport:
    path: Path
    method: str
    reason: str = ""

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        done = {"script": "scripted", "trace": "traced"}.get(self.method, self.method)
        return f"{self.path} ({done}{why})"


def to_torchscript(graph: Graph, method: str = "auto") -> tuple[Any, str, str]:
    """(ScriptModule, "script" | "trace", reason scripting failed)."""
    import torch

    from faceport.lower import lower

    module = lower(graph)
    reason = ""
    if method in ("auto", "script"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.jit.script(module), "script", ""
        except Exception as exc:  # TorchScript frontend errors have many types
            if method == "script":
                raise ExportError(f"torch.jit.script failed: {exc}") from exc
            reason = f"scripting failed: {str(exc).splitlines()[0][:200]}"
            log.warning("falling back to tracing: %s", reason)
    args = tuple(torch.zeros(s) for s in example_shape(graph))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, args, check_trace=False)
    return traced, "trace", reason


def export_torchscript(
    graph: Graph, output: str | os.PathLike[str], *, method: str = "auto"
) -> TorchScriptExport:
    """Write a TorchScript archive to ``output`` atomically (and reload it as a check)."""
    import torch

    scripted, used, reason = to_torchscript(graph, method)
    meta = deploy_metadata(graph, list(graph.outputs), torchscript_method=used)
    extra = {EXTRA_FILE: json.dumps(meta, sort_keys=True)}
    target = Path(output)
    with atomic_path(target, suffix=".pt") as tmp:
        torch.jit.save(scripted, str(tmp), _extra_files=extra)
        torch.jit.load(str(tmp), map_location="cpu")
    return TorchScriptExport(target, used, reason)
