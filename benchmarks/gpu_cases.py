"""GPU forms (CUDA fp32 / fp16 / bf16, CUDA graphs): run when a CUDA device exists.

Skipped with the reason otherwise (this project's CI machine has no GPU). Each network is
timed as a forward on the device with ``torch.cuda.synchronize`` around the call; the
H100 floor column uses the dense tensor-core peak for fp16/bf16 (see context.H100_PEAK).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from benchmarks.context import H100_PEAK, PHOTO, SHARED, Context, load_rgb
from benchmarks.timing import count_flops, measure

MMOD = SHARED / "dlib" / "mmod_human_face_detector.dat"
MNET = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"


def _why_no_gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    return None


def gpu_cases(ctx: Context) -> None:
    reason = _why_no_gpu()
    if reason is not None:
        ctx.skip("gpu", "all", "cuda fp32/fp16/bf16, CUDA graphs", reason)
        return
    import torch

    from faceport import passes
    from faceport.converters import convert
    from faceport.detect.mmod import MMODDetector
    from faceport.lower import lower

    graph = convert(MMOD)
    tensor, _ = MMODDetector(graph).to_tensor(load_rgb(PHOTO, (640, 480)))
    jobs = [("mmod 640x480", graph, tensor)]
    if MNET.is_file():
        from faceport.detect.retinaface import RetinaFaceDetector

        rg = convert(MNET)
        jobs.append(("retinaface mnet.25 640x480", rg,
                     RetinaFaceDetector(rg).preprocess(load_rgb(PHOTO, (640, 480)))))
    name = torch.cuda.get_device_name()
    for label, g, x in jobs:
        module = lower(passes.optimize(g)[0]).cuda().eval()
        flops = float(count_flops(lower(g), torch.from_numpy(x)))
        for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16),
                                  ("bf16", torch.bfloat16)):
            m = module.to(dtype)
            xd = torch.from_numpy(x).cuda().to(dtype)
            t = measure(partial(_synced, m, xd), warmup=3, min_runs=20, budget_s=3)
            ctx.row("gpu", label, f"cuda eager {dtype_name}", t, flops=flops,
                    note=f"{name}; H100 spec floor {flops / H100_PEAK[dtype_name] * 1e3:.3f} ms")
            graphed = _cuda_graph(m, xd)
            t = measure(graphed, warmup=3, min_runs=20, budget_s=3)
            ctx.row("gpu", label, f"cuda graph {dtype_name}", t, flops=flops, note=name)


def _synced(module: Any, x: Any) -> Any:
    import torch

    with torch.inference_mode():
        out = module(x)
    torch.cuda.synchronize()
    return out


def _cuda_graph(module: Any, x: Any) -> Any:
    """Capture one forward in a CUDA graph; the returned callable replays it (synced)."""
    import torch

    static = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.inference_mode():
        for _ in range(3):
            module(static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        module(static)

    def replay() -> None:
        graph.replay()
        torch.cuda.synchronize()

    return replay
