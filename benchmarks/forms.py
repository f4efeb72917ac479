"""faceport's runnable forms of one converted graph: eager, TorchScript, onnxruntime.

Every form is a runner of the backend registry (:func:`faceport.backends.make_runner`), kept
active for the form's lifetime: ``run(x: float32 ndarray (N, C, H, W)) -> float32 ndarray``
(first graph output), built once and reused. A form that cannot be built is returned as a skip
reason instead, so a missing backend is a row in the table, not a crash. torch thread counts
are set globally by the caller (:func:`set_threads`); onnxruntime's are a load option here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceport.backends import BackendRunner, LoadOptions, make_runner
from faceport.ir import Graph

log = logging.getLogger(__name__)

RunFn = Callable[[np.ndarray], np.ndarray]
RunAllFn = Callable[[np.ndarray], list[np.ndarray]]
CPU_FORMS = ("eager", "eager-folded", "channels-last", "torchscript", "onnxruntime",
             "executorch", "torch-export", "opencv")  # fmt: skip
#: forms whose runner writes one fixed-shape file per input shape (built on the first call)
PER_SHAPE = {"executorch": "executorch-xnnpack-cpu", "torch-export": "torch-export-cpu",
             "opencv": "opencv-cpu"}  # fmt: skip


@dataclass
class Form:
    """One way of running the network, with how long it took to build.

    ``extra["runner"]`` holds the active backend runner the form runs on (when it has one)."""

    name: str
    run_all: RunAllFn  # every graph output, in graph order
    build_s: float
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def run(self, x: np.ndarray) -> np.ndarray:
        """The first graph output."""
        return self.run_all(x)[0]

    def close(self) -> None:
        """Deactivate the runner (its artifact and work folder are released)."""
        runner = self.extra.pop("runner", None)
        if runner is not None:
            runner.__exit__(None, None, None)


def set_threads(threads: int) -> None:
    """torch intra-op threads (and one inter-op thread: these graphs are single chains)."""
    import torch

    torch.set_num_threads(threads)


def _activate(backend: str, graph: Graph, options: LoadOptions) -> BackendRunner:
    """A runner of ``backend`` over ``graph``, built (``runner.build_s``) and left active."""
    runner = make_runner(backend, graph, options=options)
    runner.__enter__()
    return runner


def _runs(runner: BackendRunner, graph: Graph) -> RunAllFn:
    """``x -> [graph outputs in graph order]`` through ``runner`` (fed as the first input)."""
    name = graph.inputs[0].name
    order = list(graph.outputs)

    def run(x: np.ndarray) -> list[np.ndarray]:
        out = runner.infer({name: x})
        if all(n in out for n in order):
            return [out[n] for n in order]
        return list(out.values())  # the artifact renamed them: its own order is graph order

    return run


def _warmed(runner: BackendRunner, graph: Graph, example: np.ndarray) -> tuple[RunAllFn, float]:
    """(run, build seconds including a first call on ``example``, kept out of the timings);
    the runner is closed if that call fails."""
    try:
        run = _runs(runner, graph)
        t0 = time.perf_counter()
        run(example)
        return run, runner.build_s + time.perf_counter() - t0
    except BaseException:
        runner.__exit__(None, None, None)
        raise


def _form(label: str, backend: str, graph: Graph, options: LoadOptions, note: str = "") -> Form:
    runner = _activate(backend, graph, options)
    return Form(label, _runs(runner, graph), runner.build_s, note, {"runner": runner})


def eager(graph: Graph) -> Form:
    return _form("eager", "torch-cpu", graph, LoadOptions())


def eager_folded(graph: Graph) -> Form:
    """Eager after :mod:`faceport.passes` (norm layers folded into the convolutions)."""
    from faceport import passes

    folded, applied = passes.optimize(graph)  # for the note; the backend runs the same passes
    passes_used = ", ".join(applied) or "no pass applied"
    note = f"{len(graph.nodes)} -> {len(folded.nodes)} nodes ({passes_used})"
    return _form("eager-folded", "torch-cpu", graph, LoadOptions(optimize=True), note)


def channels_last(graph: Graph) -> Form:
    options = LoadOptions(optimize=True, channels_last=True)
    return _form("channels-last", "torch-cpu", graph, options, "folded")


def torchscript(graph: Graph, example: np.ndarray) -> Form:
    """Scripted (or traced), frozen and ``optimize_for_inference`` (torch's own conv/bn
    folding and, on CPU, its MKL-DNN weight prepacking)."""
    runner = _activate("torchscript-cpu", graph, LoadOptions(freeze=True))
    run, build_s = _warmed(runner, graph, example)  # the first call specialises the graph
    note = runner.artifact[3]  # the loader's "script|trace[, frozen + optimize_for_inference]"
    return Form("torchscript", run, build_s, note, {"runner": runner})


def onnxruntime(graph: Graph, threads: int, *, fold: bool = True, fp16: bool = False) -> Form:
    """Exported with faceport's exporter, run with ORT_ENABLE_ALL and ``threads`` intra-op
    threads (not spinning), sequential execution, one inter-op thread."""
    # idle intra-op threads would spin after each run and take the cores from whatever is
    # timed next (round-robin timing); parking them costs nothing measurable (67.0 vs 69.0 ms)
    options = LoadOptions(optimize=fold, fp16=fp16, threads=threads, spinning=False,
                          sequential=True)  # fmt: skip
    runner = _activate("onnxruntime-cpu", graph, options)
    size = runner.artifact.stat().st_size
    label = "onnxruntime-fp16" if fp16 else "onnxruntime"
    note = f"ORT_ENABLE_ALL, {threads} threads, no spin, {size / 1e6:.1f} MB"
    return Form(label, _runs(runner, graph), runner.build_s, note, {"runner": runner})


def per_shape(label: str, graph: Graph, example: np.ndarray) -> Form:
    """A per-shape backend, its file for ``example``'s shape built now (not in the timings)."""
    runner = _activate(PER_SHAPE[label], graph, LoadOptions())
    run, build_s = _warmed(runner, graph, example)
    notes = {"executorch": "XNNPACK delegate, .pte at this shape",
             "torch-export": ".pt2 program.module(), eager kernels",
             "opencv": "cv2.dnn, OpenCV's own threads"}  # fmt: skip
    return Form(label, run, build_s, notes[label], {"runner": runner})


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
        "onnxruntime-fp16": lambda: onnxruntime(graph, threads, fp16=True),
        **{label: (lambda label=label: per_shape(label, graph, example)) for label in PER_SHAPE},
    }
    forms: dict[str, Form | str] = {}
    for name in names:
        try:
            forms[name] = builders[name]()
        except Exception as exc:  # a backend failing is a result to report
            log.warning("form %s unavailable: %s", name, exc)
            forms[name] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
    return forms


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
