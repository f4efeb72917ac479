"""What every benchmark case shares: settings, the machine's floor, and the result rows."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.timing import Timing

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "fixtures"
PHOTO = SHARED / "images" / "dlib_examples_faces" / "bald_guys.jpg"
GROUP_PHOTO = SHARED / "images" / "sfd_pytorch" / "test01.jpg"

# NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), SXM5 column:
# FP32 67 TFLOPS; TF32 tensor 989 and FP16/BF16 tensor 1,979 TFLOPS are quoted *with
# sparsity*, so the dense figures are half of those.
H100_PEAK = {"fp32": 67e12, "tf32": 494.7e12, "fp16": 989.4e12, "bf16": 989.4e12}


@dataclass
class Row:
    """One line of the results table (times in milliseconds)."""

    case: str
    setting: str
    form: str
    median_ms: float | None
    p10_ms: float | None = None
    p90_ms: float | None = None
    runs: int = 0
    gflop: float | None = None
    floor_ms: float | None = None  # gflop at this machine's measured 2-thread GEMM peak
    h100_floor_ms: float | None = None  # gflop at the H100's dense fp32 spec peak
    speedup: float | None = None  # original median / this median (side by side)
    target: str = ""
    met: bool | None = None
    parity: str = ""
    note: str = ""

    @property
    def x_floor(self) -> float | None:
        if self.median_ms is None or not self.floor_ms:
            return None
        return self.median_ms / self.floor_ms

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["x_floor"] = self.x_floor
        return data


@dataclass
class Context:
    quick: bool
    threads: int
    peak_flops: float  # measured fp32 GEMM FLOP/s with ``threads`` threads
    rows: list[Row] = field(default_factory=list)
    curves: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(
        self, case: str, setting: str, form: str, timing: Timing | None, *,
        flops: float | None = None, original: Timing | None = None,
        peak_flops: float | None = None, **extra: Any,
    ) -> Row:
        """Record a timed row; ``original`` gives the side-by-side speed-up; ``peak_flops``
        (default: the run's start-up GEMM peak) sets the floor."""
        peak = peak_flops or self.peak_flops
        median = None if timing is None else timing.median * 1e3
        row = Row(
            case, setting, form, median,
            None if timing is None else timing.p10 * 1e3,
            None if timing is None else timing.p90 * 1e3,
            0 if timing is None else timing.runs,
            None if flops is None else flops / 1e9,
            None if flops is None else flops / peak * 1e3,
            None if flops is None else flops / H100_PEAK["fp32"] * 1e3,
            None if (timing is None or original is None) else original.median / timing.median,
            **extra,
        )
        self.rows.append(row)
        return row

    def timed_with_floor(
        self, label: str, fns: dict[str, Any], **options: Any
    ) -> tuple[dict[str, Timing], float]:
        """``measure_interleaved(fns)`` with a GEMM probe in the same rounds; returns the
        timings and the GEMM FLOP/s seen alongside (the floor for these rows: the shared
        machine's speed drifts by up to 2x within minutes, so a start-up peak misleads)."""
        from benchmarks.timing import gemm_probe, measure_interleaved

        probe, probe_flops = gemm_probe()
        timings = measure_interleaved({**fns, "_gemm": probe}, **options)
        peak = probe_flops / timings.pop("_gemm").median
        self.notes.append(f"{label}: GEMM timed in the same rounds ran at {peak / 1e9:.1f} GFLOP/s")
        return timings, peak

    def skip(self, case: str, setting: str, form: str, reason: str) -> None:
        self.rows.append(Row(case, setting, form, None, note=f"skipped: {reason}"))

    def curve(self, plot: str, series: str, x: float, y_ms: float) -> None:
        self.curves.setdefault(plot, {}).setdefault(series, []).append((x, y_ms))


def load_rgb(path: Path, size: tuple[int, int] | None = None) -> Any:
    """uint8 RGB (H, W, 3); ``size`` = (width, height) resizes with Pillow's bilinear."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as source:
        im = source.convert("RGB")
        if size is not None:
            im = im.resize(size, Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def face_recognition_models_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def thread_env(threads: int, wait_policy: str = "PASSIVE") -> None:
    """Cap every native thread pool before the libraries start (OpenMP, BLAS).

    ``OMP_WAIT_POLICY=PASSIVE``: on a shared, oversubscribed machine libgomp's spinning
    workers hold a core while waiting at a barrier for a descheduled peer; measured on the
    descriptor ResNet at load ~12 on 2 cores, torch eager with 2 threads took 2.8 s (ACTIVE)
    vs 0.10-0.14 s (PASSIVE) per chip. On an idle machine ACTIVE is marginally faster.
    """
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[key] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", wait_policy)
