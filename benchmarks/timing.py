"""Timing, FLOP counting and the machine's measured compute floor."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls after warm-up."""

    median: float
    p10: float
    p90: float
    runs: int

    def __str__(self) -> str:
        ms = (self.median * 1e3, self.p10 * 1e3, self.p90 * 1e3)
        return f"{ms[0]:.2f} ms (p10 {ms[1]:.2f}, p90 {ms[2]:.2f}, n={self.runs})"


def measure(
    fn: Callable[[], Any], *, warmup: int = 2, min_runs: int = 5, budget_s: float = 3.0
) -> Timing:
    """Median of at least ``min_runs`` calls, more while under ``budget_s`` seconds."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    return Timing(statistics.median(times), q[0], q[-1], len(times))


def count_flops(module: Any, *args: Any) -> int:
    """FLOPs (2 x multiply-adds) of one forward, counted by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        module(*args)
    return int(counter.get_total_flops())


def matmul_peak_flops(threads: int, size: int = 2048, seconds: float = 2.0) -> float:
    """Measured float32 GEMM FLOP/s with ``threads`` threads (the machine's practical peak)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(size, size)
        b = torch.randn(size, size)
        timing = measure(lambda: a @ b, warmup=2, min_runs=5, budget_s=seconds)
    finally:
        torch.set_num_threads(old)
    return 2.0 * size**3 / timing.median


def gemm_probe(size: int = 1536) -> tuple[Callable[[], Any], float]:
    """A float32 ``size``^3 matmul (torch, its current thread count) and its FLOPs: timed in
    the same round-robin as a case, it gives the floor under the same momentary load."""
    import torch

    a = torch.randn(size, size)
    b = torch.randn(size, size)
    return (lambda: a @ b), 2.0 * size**3


def measure_interleaved(
    fns: dict[str, Callable[[], Any]],
    *,
    warmup: int = 1,
    min_runs: int = 3,
    budget_s: float = 10.0,
    max_runs: int = 50,
) -> dict[str, Timing]:
    """Time several callables round-robin (one call of each per round).

    On a shared machine the load changes during a run; interleaving makes every form see
    the same load, so the ratios between them are fairer than back-to-back medians.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_runs or (time.perf_counter() - start < budget_s and rounds < max_runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return {name: summarise(values) for name, values in times.items()}


def summarise(values: list[float]) -> Timing:
    """Median and p10/p90 of ``values`` (seconds)."""
    values = sorted(values)
    q = statistics.quantiles(values, n=10) if len(values) >= 2 else [values[0]] * 9
    return Timing(statistics.median(values), q[0], q[-1], len(values))


def cpu_utilisation(fn: Callable[[], Any], runs: int = 1) -> float:
    """Process CPU seconds per wall second over ``runs`` calls (threads actually busy)."""
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    for _ in range(runs):
        fn()
    return (cpu() - c0) / max(time.perf_counter() - t0, 1e-9)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (other processes competing for the cores)."""
    import os

    return os.getloadavg()
