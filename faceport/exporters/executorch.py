"""ExecuTorch (``.pte``) with the XNNPACK delegate, from the torch.export program.

:func:`faceport.exporters.torch_export.export_program` at a fixed size (``size`` is required:
a dynamic ExecuTorch program plans its buffers for the example's size and refuses larger
inputs at run time), then ``to_edge_transform_and_lower`` with ``XnnpackPartitioner`` (every
convolution, pooling and elementwise op XNNPACK takes is delegated) and ``to_executorch``.
The flatbuffer is written atomically and loaded back by the ExecuTorch runtime as a check.
A ``.pte`` has no metadata table: what was exported is printed by the CLI and recorded in the
sidecar ``<output>.json`` (the deploy metadata of the other forms).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceport.atomic import atomic_path, write_atomic
from faceport.errors import ExportError
from faceport.exporters.metadata import deploy_metadata
from faceport.ir import Graph


@dataclass(frozen=True)
class PteExport:
    path: Path
    shape: tuple[int, ...]
    delegated: int  # XNNPACK delegate calls in the program

    def __str__(self) -> str:
        dims = "x".join(map(str, self.shape))
        return f"{self.path} (ExecuTorch, input {dims}, {self.delegated} XNNPACK partitions)"


def why_unavailable() -> str | None:
    import logging

    # torchao (imported by ExecuTorch) warns about CUDA/Triton kernels a CPU build lacks
    logging.getLogger("torchao").setLevel(logging.ERROR)
    try:
        import executorch.exir
        import executorch.runtime  # noqa: F401
    except ImportError as exc:
        return f"ExecuTorch is not installed ({exc}; pip install executorch)"
    return None


def pte_bytes(graph: Graph, size: tuple[int, int], batch: int = 1) -> tuple[bytes, list[int], int]:
    """(the .pte flatbuffer, input shape, number of XNNPACK partitions)."""
    from faceport.exporters.torch_export import export_program

    reason = why_unavailable()
    if reason is not None:
        raise ExportError(reason)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program, _, _, shape = export_program(graph, size=size, batch=batch, dynamic=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            delegated = sum(
                1 for n in edge.exported_program().graph.nodes
                if n.op == "call_function" and "executorch_call_delegate" in str(n.target)
            )  # fmt: skip
            buffer = edge.to_executorch().buffer
    except Exception as exc:  # ExecuTorch's lowering raises many types
        raise ExportError(f"ExecuTorch lowering failed: {str(exc).splitlines()[0][:300]}") from exc
    return bytes(buffer), shape, delegated


class LoadedProgram:
    """A .pte held in memory with its ``forward`` method. The runtime reads the program from
    the caller's buffer: the buffer and the program object are kept alive with the method
    (dropping them leaves the method on freed memory: garbage shapes, failed delegates)."""

    def __init__(self, data: bytes) -> None:
        from executorch.runtime import Runtime

        self.data = data
        self.program = Runtime.get().load_program(data)
        self.method = self.program.load_method("forward")

    def execute(self, inputs: list[Any]) -> Any:
        return self.method.execute(inputs)


def load_method(data: bytes) -> LoadedProgram:
    """The ``forward`` method of a .pte held in memory (ExecuTorch runtime)."""
    return LoadedProgram(data)


def export_pte(
    graph: Graph, output: str | os.PathLike[str], *, size: tuple[int, int] | None,
    batch: int | None = None,
) -> PteExport:  # fmt: skip
    """Write ``graph`` as an ExecuTorch XNNPACK program for inputs of ``size`` (H, W)."""
    if size is None:
        raise ExportError(
            "an ExecuTorch program plans its buffers for one input size: give --input-size WxH",
            field="input_size", expected="WxH", found="dynamic",
        )  # fmt: skip
    data, shape, delegated = pte_bytes(graph, size, batch or 1)
    try:
        load_method(data)
    except Exception as exc:  # the runtime's own error
        raise ExportError(f"the ExecuTorch runtime cannot load the program: {exc}",
                          file=str(output)) from exc  # fmt: skip
    target = Path(output)
    meta = deploy_metadata(graph, list(graph.outputs), exporter="torch.export + ExecuTorch "
                           "XNNPACK", dynamic=False, input_shapes=shape)  # fmt: skip
    with atomic_path(target, suffix=".pte") as tmp:
        tmp.write_bytes(data)
    sidecar = target.with_name(target.name + ".json")
    text = json.dumps(meta, indent=1, sort_keys=True) + "\n"

    def write(path: Path) -> None:
        path.write_text(text)

    write_atomic(sidecar, write)
    return PteExport(target, tuple(shape), delegated)
