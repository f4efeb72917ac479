"""The torch-side shipped forms faceport writes, opened for verification.

* ``.pt2`` (torch.export ExportedProgram): metadata in the archive's ``faceport.json`` extra
  file, run as ``program.module()``;
* ``.pte`` (ExecuTorch, XNNPACK): metadata in the sidecar ``<file>.json`` (a .pte has no
  metadata table), run by the ExecuTorch runtime;
* ``.pt`` (TorchScript, the legacy form): metadata in the ``faceport.json`` extra file.

Each runner feeds the network input by name and returns the outputs under the names the
metadata lists (``faceport.outputs``). A fixed-shape file fed another shape is a
:class:`FaceportError` naming both shapes (that image is then not verified for the file).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner
from faceport.errors import FaceportError

EXTRA_FILE = "faceport.json"
TORCH_SUFFIXES = (".pt2", ".pte", ".pt")


def read_torch_metadata(path: Path) -> dict[str, str]:
    """The faceport metadata of a .pt2/.pte/.pt file (loading it once as the check)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".pt2":
            import torch

            extra = {EXTRA_FILE: ""}
            torch.export.load(io.BytesIO(path.read_bytes()), extra_files=extra)
            text = extra[EXTRA_FILE]
        elif suffix == ".pt":
            import torch

            extra = {EXTRA_FILE: ""}
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
            text = extra[EXTRA_FILE]
        else:
            from faceport.exporters.executorch import load_method, why_unavailable

            reason = why_unavailable()
            if reason is not None:
                raise FaceportError(reason, file=str(path))
            load_method(path.read_bytes())
            sidecar = path.with_name(path.name + ".json")
            if not sidecar.is_file():
                raise FaceportError("a .pte carries no metadata and its sidecar is missing",
                                    file=str(sidecar), hint="verify the source model")  # fmt: skip
            text = sidecar.read_text(encoding="utf-8")
    except FaceportError:
        raise
    except Exception as exc:  # torch/ExecuTorch loaders raise many types
        raise FaceportError(f"cannot load it: {str(exc).splitlines()[0][:300]}",
                            file=str(path)) from None  # fmt: skip
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise FaceportError(f"its faceport metadata is not JSON: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise FaceportError("its faceport metadata is not an object", file=str(path))
    return {str(k): str(v) for k, v in data.items()}


class TorchFileRunner(Runner):
    """Runs a shipped .pt2 / .pte / .pt file on CPU."""

    def __init__(self, path: Path, metadata: dict[str, str]) -> None:
        super().__init__()
        self.path = path
        self.name = f"shipped:{path.name}"
        self.outputs: list[str] = json.loads(metadata.get("faceport.outputs", "[]"))
        inputs = json.loads(metadata.get("faceport.inputs", "[]"))
        self.input = str(inputs[0]["name"]) if inputs else ""
        self.call: Any = None

    def why_unavailable(self) -> str | None:
        if self.path.suffix.lower() == ".pte":
            from faceport.exporters.executorch import why_unavailable

            return why_unavailable()
        return None

    def activate(self) -> None:
        import torch

        suffix = self.path.suffix.lower()
        if suffix == ".pt2":
            self.call = torch.export.load(io.BytesIO(self.path.read_bytes())).module()
        elif suffix == ".pt":
            self.call = torch.jit.load(str(self.path), map_location="cpu")
        else:
            from faceport.exporters.executorch import load_method

            program = load_method(self.path.read_bytes())
            self.call = lambda x: program.execute([x])

    def run(self, feed: Feed) -> Outputs:
        import torch

        if self.input not in feed:
            raise FaceportError("the feed lacks the file's input", field="input",
                                expected=self.input, found=sorted(feed))  # fmt: skip
        x = torch.from_numpy(np.ascontiguousarray(feed[self.input], dtype=np.float32))
        try:
            with torch.no_grad():
                out = self.call(x)
        except Exception as exc:  # a fixed-shape program's guard, ExecuTorch's resize error
            raise FaceportError(
                f"the file cannot run on an input of {list(x.shape)}: "
                f"{str(exc).splitlines()[0][:200]}", file=str(self.path),
            ) from None  # fmt: skip
        values = out if isinstance(out, (tuple, list)) else (out,)
        return {n: np.asarray(v.float().numpy()) for n, v in zip(self.outputs, values)}

    def deactivate(self) -> None:
        self.call = None
