"""faceport's own lowered graph (``torch.fx.GraphModule``) run by eager torch, CPU or CUDA,
float32 / float16 / bfloat16 compute (results returned as float32)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends import Backend, LoadOptions, prepared
from faceport.backends.base import Feed, Outputs, Runner

if TYPE_CHECKING:
    from faceport.ir import Graph


def cuda_unavailable(device: str) -> str | None:
    """Why ``device`` cannot run here: a ``cuda*`` device with no CUDA torch, else ``None``."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device (run on a machine with an NVIDIA GPU and CUDA torch)"
    return None


class TorchModuleRunner(Runner):
    """Run a torch module taking the ``inputs`` positionally; outputs as float32 numpy arrays
    named ``outputs`` in the module's output order. Feeds are cast to ``dtype`` on ``device``."""

    def __init__(
        self,
        module: Any,
        inputs: Sequence[str],
        outputs: Sequence[str],
        *,
        name: str,
        device: str = "cpu",
        dtype: str = "float32",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.module = module
        self.inputs = list(inputs)
        self.output_names = list(outputs)
        self.name = name
        self.device = device
        self.dtype = dtype
        self.channels_last = channels_last

    def why_unavailable(self) -> str | None:
        return cuda_unavailable(self.device)

    def activate(self) -> None:
        pass

    def run(self, feed: Feed) -> Outputs:
        import torch

        torch_dtype = getattr(torch, self.dtype)
        args = []
        for name in self.inputs:
            tensor = torch.from_numpy(np.ascontiguousarray(feed[name])).to(self.device, torch_dtype)
            if self.channels_last and tensor.dim() == 4:
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            args.append(tensor)
        with torch.inference_mode():
            result = self.module(*args)
        values = result if isinstance(result, (tuple, list)) else (result,)
        return {
            name: value.float().contiguous().cpu().numpy()
            for name, value in zip(self.output_names, values)
        }


def load_eager(
    graph: Graph, outputs: Sequence[str] | None, options: LoadOptions, workdir: Path
) -> Any:
    """The lowered ``torch.fx.GraphModule`` (after the passes when ``optimize``)."""
    from faceport.lower import lower

    return lower(prepared(graph, options), None if outputs is None else list(outputs))


def open_module(module: Any, entry: Backend, options: LoadOptions) -> Runner:
    """A runner over a lowered module, moved to the entry's device and dtype."""
    import torch

    moved = module.to(device=entry.device, dtype=getattr(torch, entry.dtype))
    if options.channels_last:
        moved = moved.to(memory_format=torch.channels_last)
    record = module.meta["faceport"]
    return TorchModuleRunner(
        moved, record["inputs"], record["outputs"], name=entry.name, device=entry.device,
        dtype=entry.dtype, channels_last=options.channels_last,
    )  # fmt: skip


def _unavailable(entry: Backend) -> str | None:
    return cuda_unavailable(entry.device)


def _entry(name: str, device: str, dtype: str) -> Backend:
    return Backend(
        name=name, device=device, dtype=dtype, load=load_eager, runner=open_module,
        unavailable=_unavailable, options=frozenset({"optimize", "channels_last"}),
        summary=f"faceport's lowered torch.fx graph, eager torch on {device}, {dtype} compute",
    )  # fmt: skip


BACKENDS = (
    _entry("torch-cpu", "cpu", "float32"),
    _entry("torch-cuda", "cuda", "float32"),
    _entry("torch-cuda-float16", "cuda", "float16"),
    _entry("torch-cuda-bfloat16", "cuda", "bfloat16"),
)
