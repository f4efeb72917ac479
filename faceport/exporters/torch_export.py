"""Export a converted graph as a ``torch.export`` ExportedProgram (``.pt2``).

The lowered ``GraphModule`` is exported with ``strict=False``; the batch is fixed (``batch``,
default 1: torch.export specialises a dimension traced at 1). Dynamic (the default): height
and width are ``Dim.AUTO``, so torch.export infers their ranges and specialises what the graph
forces; where a guard rejects the smallest sizes of the range (an intermediate map of 1 px),
the export is retried with a larger minimum. An AUTO export can still hold run-time
guards that only some sizes satisfy: mnet.25's upsample-and-crop heads are valid only when H
and W are multiples of 32. A dynamic program is therefore probed at sizes across its range
(odd, even, non-multiples of 32) against the eager graph, and refused with the guard that
failed when any probe fails: the program would reject (or mis-handle) sizes inside the range
it declares. ``size``/``batch`` export a fixed program instead.

The deploy metadata goes into the archive as the extra file ``faceport.json``; the file is
written atomically and loaded back as a check.
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceport.atomic import atomic_path
from faceport.errors import ExportError
from faceport.exporters.metadata import deploy_metadata
from faceport.ir import Graph

log = logging.getLogger(__name__)
EXTRA_FILE = "faceport.json"
#: (H, W) offsets added to the smallest valid size for the dynamic probes
PROBES = ((0, 0), (1, 3), (8, 5), (33, 47), (64, 96))


@dataclass(frozen=True)
class ProgramExport:
    path: Path
    dynamic: bool
    ranges: str
    probes: int

    def __str__(self) -> str:
        if self.dynamic:
            return f"{self.path} (dynamic {self.ranges}; checked at {self.probes} sizes)"
        return f"{self.path} (fixed shape)"


def export_program(
    graph: Graph, *, size: tuple[int, int] | None = None, batch: int | None = None,
    dynamic: bool = True,
) -> tuple[Any, str, int, list[int]]:  # fmt: skip
    """(ExportedProgram, range description, number of dynamic probes run, example shape)."""
    import torch
    from torch.export import Dim

    from faceport.exporters.onnx import export_shapes
    from faceport.lower import lower

    if len(graph.inputs) != 1:
        raise ExportError("the .pt2 export takes networks with one input",
                          found=[s.name for s in graph.inputs])  # fmt: skip
    module = lower(graph).eval()
    shapes, axes = export_shapes(graph, dynamic=dynamic, size=size, batch=batch or 1)
    example = torch.zeros(shapes[0])
    free = sorted(axes.get(graph.inputs[0].name, {}))
    if not free:
        return _export(module, example, None), "", 0, list(shapes[0])
    minimum, why = 1, []
    for _ in range(MIN_RETRIES):
        spec = {a: Dim.AUTO if minimum == 1 else Dim(f"d{a}", min=minimum) for a in free}
        try:
            program = _export(module, example, spec)
            probes = _probe(module, program, example, set(free))
        except ExportError as exc:
            why.append(f"with H, W >= {minimum}: {exc.message}")
            minimum = max(2 * minimum, 64)
            if minimum > max(example.shape[a] for a in free):
                break
            continue
        ranges = ", ".join(f"{k}: {v}" for k, v in sorted(program.range_constraints.items(),
                                                          key=lambda kv: str(kv[0])))  # fmt: skip
        return program, ranges, probes, list(shapes[0])
    raise ExportError("no dynamic .pt2 program valid for every size of its range ("
                      + "; ".join(why) + "): export a fixed size with --input-size WxH",
                      field="dynamic")  # fmt: skip


#: dynamic exports are retried with a larger minimum H, W (torch specialises sizes where an
#: intermediate map would be 1 px) until it exceeds the example size
MIN_RETRIES = 4


def _export(module: Any, example: Any, spec: dict[int, Any] | None) -> Any:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            return torch.export.export(
                module, (example,), dynamic_shapes=(spec,) if spec else None, strict=False
            )
        except Exception as exc:  # torch.export raises many types
            raise ExportError(f"torch.export failed: {str(exc).splitlines()[0][:300]}") from exc


def _probe(module: Any, program: Any, example: Any, free: set[int]) -> int:
    """Run the dynamic program at several sizes against the eager module; refuse on any
    failed guard or mismatch."""
    import torch

    lows = _lower_bounds(program, example, free)
    run = program.module()
    count = 0
    for dh, dw in PROBES:
        shape = list(example.shape)
        for axis, offset in ((2, dh), (3, dw)):
            if axis in free:
                shape[axis] = lows[axis] + offset
        x = torch.rand(shape, generator=torch.Generator().manual_seed(count))
        with torch.no_grad():
            try:
                got = run(x)
            except Exception as exc:  # a guard of the program
                raise ExportError(
                    "the dynamic .pt2 program is not valid for every size in its range: "
                    f"at {shape[3]}x{shape[2]}: {str(exc).splitlines()[0][:240]}",
                    field="dynamic", found=list(shape),
                ) from None
            want = module(x)
        for a, b in zip(_tuple(got), _tuple(want)):
            if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-4, atol=1e-4):
                raise ExportError("the dynamic .pt2 program differs from the graph",
                                  field="dynamic", found=list(shape))  # fmt: skip
        count += 1
    return count


def _lower_bounds(program: Any, example: Any, free: set[int]) -> dict[int, int]:
    """The smallest valid size of each free axis (from the program's range constraints)."""
    lows = {axis: int(example.shape[axis]) for axis in free}
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    user_input = placeholders[-1]
    value = user_input.meta.get("val")
    if value is None:
        return lows
    for axis in free:
        symbol = value.shape[axis]
        expr = getattr(symbol, "node", None)
        if expr is None:
            continue
        bounds = program.range_constraints.get(expr.expr)
        if bounds is not None:
            lows[axis] = max(int(bounds.lower), 1)
    return lows


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def export_pt2(
    graph: Graph, output: str | os.PathLike[str], *, size: tuple[int, int] | None = None,
    batch: int | None = None, dynamic: bool = True,
) -> ProgramExport:  # fmt: skip
    """Write the ExportedProgram of ``graph`` to ``output`` atomically (loaded back as a check)."""
    import torch

    program, ranges, probes, shape = export_program(graph, size=size, batch=batch,
                                                    dynamic=dynamic)  # fmt: skip
    is_dynamic = probes > 0
    meta = deploy_metadata(
        graph, list(graph.outputs), exporter="torch.export", dynamic=is_dynamic,
        input_shapes=ranges if is_dynamic else shape,
    )  # fmt: skip
    extra = {EXTRA_FILE: json.dumps(meta, sort_keys=True)}
    target = Path(output)
    buffer = io.BytesIO()  # torch's archive writer wants a name ending in .pt2 or a buffer
    torch.export.save(program, buffer, extra_files=extra)
    data = buffer.getvalue()
    torch.export.load(io.BytesIO(data))
    with atomic_path(target, suffix=".pt2") as tmp:
        tmp.write_bytes(data)
    log.info("wrote %s", target)
    return ProgramExport(target, is_dynamic, ranges, probes)
