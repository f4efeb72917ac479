"""``make bench``: every benchmark case, side by side with the source framework, one process.

Usage: ``python -m benchmarks.run [--quick] [--cases NAME ...] [--threads 2] [--out DIR]``

Writes ``benchmarks/results/<date>-cpu[-quick].{json,md}`` and an SVG per scaling curve. The
thread counts are capped before any native library loads (OMP/BLAS env, torch, onnxruntime);
MXNet runs in its own venv's subprocess with ``OMP_NUM_THREADS`` set the same way.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import logging
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.context import REPO, Context, thread_env

log = logging.getLogger("benchmarks")
#: ExecuTorch as `make test-prereqs` installs it (mk/executorch.mk), for the executorch form
EXECUTORCH = REPO / "build" / "executorch"
if (EXECUTORCH / ".done").is_file() and str(EXECUTORCH) not in sys.path:
    sys.path.append(str(EXECUTORCH))

#: name -> (module, function); order is the order of the table
CASES = {
    "mmod": ("benchmarks.dlib_cases", "mmod_cases"),
    "descriptor": ("benchmarks.dlib_cases", "descriptor_cases"),
    "scaling": ("benchmarks.scaling_cases", "scaling_cases"),
    "retinaface": ("benchmarks.retinaface_cases", "retinaface_cases"),
    "s3fd": ("benchmarks.s3fd_cases", "s3fd_cases"),
    "conversion": ("benchmarks.conversion_cases", "conversion_cases"),
    "gpu": ("benchmarks.gpu_cases", "gpu_cases"),
}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    found = []
    for name in ("torch", "onnxruntime", "numpy", "dlib"):
        try:
            found.append(f"{name} {importlib.import_module(name).__version__}")
        except Exception:  # absent or broken: say so in the table header
            found.append(f"{name} -")
    return ", ".join(found)


def _load() -> str:
    import os

    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sizes/forms (~2 min)")
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--omp-wait", choices=("PASSIVE", "ACTIVE"), default="PASSIVE",
                        help="OMP_WAIT_POLICY (PASSIVE suits a shared machine)")
    args = parser.parse_args(argv)
    thread_env(args.threads, args.omp_wait)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import os

    from benchmarks.forms import set_threads
    from benchmarks.timing import matmul_peak_flops

    set_threads(args.threads)
    started = time.perf_counter()
    env: dict[str, Any] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_start": _load(),
        "versions": _versions(),
        "python": sys.version.split()[0],
    }
    peak = matmul_peak_flops(args.threads)
    env["peak_gflops"] = peak / 1e9
    log.info("GEMM peak %.1f GFLOP/s on %d threads, load %s", peak / 1e9, args.threads,
             env["load_start"])
    ctx = Context(quick=args.quick, threads=args.threads, peak_flops=peak)
    for name in args.cases:
        module, function = CASES[name]
        t0 = time.perf_counter()
        log.info("case %s (load %s)", name, _load())
        try:
            getattr(importlib.import_module(module), function)(ctx)
        except Exception as exc:  # one broken case must not lose the others' numbers
            where = traceback.extract_tb(exc.__traceback__)[-1]
            ctx.notes.append(f"case {name} failed: {type(exc).__name__}: {exc} "
                             f"({Path(where.filename).name}:{where.lineno})")
            log.exception("case %s failed", name)
        env.setdefault("case_seconds", {})[name] = round(time.perf_counter() - t0, 1)
    env["peak_gflops_end"] = matmul_peak_flops(args.threads) / 1e9
    env["load_end"] = _load()
    env["total_seconds"] = round(time.perf_counter() - started, 1)
    stem = datetime.date.today().isoformat() + "-cpu" + ("-quick" if args.quick else "")
    from benchmarks.report import write

    for path in write(ctx, env, args.out, stem):
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
