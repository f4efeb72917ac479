"""faceport's runnable forms of one converted graph: eager, TorchScript, onnxruntime.

Each form is ``run(x: float32 ndarray (N, C, H, W)) -> float32 ndarray`` (first graph output),
built once and reused; a form that cannot be built is returned as a skip reason instead, so a
missing backend is a row in the table, not a crash. Thread counts are set by the caller
(:func:`set_threads`) for torch and passed to onnxruntime here.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceport.ir import Graph

log = logging.getLogger(__name__)

RunFn = Callable[[np.ndarray], np.ndarray]
RunAllFn = Callable[[np.ndarray], list[np.ndarray]]
CPU_FORMS = ("eager", "eager-folded", "channels-last", "torchscript", "onnxruntime")


@dataclass
class Form:
    """One way of running the network, with how long it took to build."""

    name: str
    run_all: RunAllFn  # every graph output, in graph order
    build_s: float
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The first graph output."""
        return self.run_all(x)[0]


def set_threads(threads: int) -> None:
    """torch intra-op threads (and one inter-op thread: these graphs are single chains)."""
    import torch

    torch.set_num_threads(threads)


def _torch_run(module: Any, channels_last: bool = False) -> RunAllFn:
    import torch

    def run(x: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            t = torch.from_numpy(x)
            if channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            out = module(t)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            return [np.asarray(o.contiguous().numpy()) for o in outs]

    return run


def eager(graph: Graph) -> Form:
    from faceport.lower import lower

    t0 = time.perf_counter()
    module = lower(graph)
    return Form("eager", _torch_run(module), time.perf_counter() - t0)


def eager_folded(graph: Graph) -> Form:
    """Eager after :mod:`faceport.passes` (norm layers folded into the convolutions)."""
    from faceport import passes
    from faceport.lower import lower

    t0 = time.perf_counter()
    folded, applied = passes.optimize(graph)
    module = lower(folded)
    passes_used = ", ".join(applied) or "no pass applied"
    note = f"{len(graph.nodes)} -> {len(folded.nodes)} nodes ({passes_used})"
    return Form("eager-folded", _torch_run(module), time.perf_counter() - t0, note)


def channels_last(graph: Graph) -> Form:
    import torch

    from faceport import passes
    from faceport.lower import lower

    t0 = time.perf_counter()
    module = lower(passes.optimize(graph)[0]).to(memory_format=torch.channels_last)
    return Form("channels-last", _torch_run(module, True), time.perf_counter() - t0, "folded")


def torchscript(graph: Graph, example: np.ndarray) -> Form:
    """Scripted (or traced), frozen and ``optimize_for_inference`` (torch's own conv/bn
    folding and, on CPU, its MKL-DNN weight prepacking)."""
    import torch

    from faceport.exporters.torchscript import to_torchscript

    t0 = time.perf_counter()
    scripted, method, _ = to_torchscript(graph)
    note = method
    try:
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(scripted.eval()))
        note += ", frozen + optimize_for_inference"
    except Exception as exc:  # optional optimisation: keep the plain module
        log.warning("optimize_for_inference failed: %s", exc)
        frozen = scripted
    run = _torch_run(frozen)
    run(example)  # the first call specialises the graph; keep it out of the timings
    return Form("torchscript", run, time.perf_counter() - t0, note)


def onnxruntime(graph: Graph, threads: int, *, fold: bool = True, fp16: bool = False) -> Form:
    """Exported with faceport's exporter, run with ORT_ENABLE_ALL and ``threads`` intra-op
    threads (not spinning), sequential execution, one inter-op thread."""
    import onnxruntime as ort

    from faceport import passes
    from faceport.exporters.onnx import export_onnx

    t0 = time.perf_counter()
    source = _static_channels(passes.optimize(graph)[0] if fold else graph)
    tmp = tempfile.TemporaryDirectory(prefix="faceport-bench-")
    path = Path(tmp.name) / "model.onnx"
    export_onnx(source, path, fp16=fp16)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # idle intra-op threads would spin after each run and take the cores from whatever is
    # timed next (round-robin timing); parking them costs nothing measurable (67.0 vs 69.0 ms)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    size = path.stat().st_size
    tmp.cleanup()

    def run(x: np.ndarray) -> list[np.ndarray]:
        return list(session.run(None, {name: np.ascontiguousarray(x, np.float32)}))

    label = "onnxruntime-fp16" if fp16 else "onnxruntime"
    note = f"ORT_ENABLE_ALL, {threads} threads, no spin, {size / 1e6:.1f} MB"
    return Form(label, run, time.perf_counter() - t0, note)


def _static_channels(graph: Graph) -> Graph:
    """Pin a dynamic channel axis of an NCHW input to 3 (the exporter keeps only N, H, W
    dynamic and refuses others; every image network here takes 3 channels)."""
    from dataclasses import replace

    specs = tuple(
        replace(s, shape=(s.shape[0], 3, *s.shape[2:])) if len(s.shape) == 4 and s.shape[1]
        is None else s
        for s in graph.inputs
    )
    return replace(graph, inputs=specs)


def build_forms(
    graph: Graph, example: np.ndarray, threads: int, names: tuple[str, ...] = CPU_FORMS
) -> dict[str, Form | str]:
    """The requested forms; a form that fails to build maps to its reason (a string)."""
    builders: dict[str, Callable[[], Form]] = {
        "eager": lambda: eager(graph),
        "eager-folded": lambda: eager_folded(graph),
        "channels-last": lambda: channels_last(graph),
        "torchscript": lambda: torchscript(graph, example),
        "onnxruntime": lambda: onnxruntime(graph, threads),
    }
    forms: dict[str, Form | str] = {}
    for name in names:
        try:
            forms[name] = builders[name]()
        except Exception as exc:  # a backend failing is a result to report
            log.warning("form %s unavailable: %s", name, exc)
            forms[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return forms


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
