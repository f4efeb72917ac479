"""Scaling curves of the MMOD network: latency vs image side, and one packed forward vs
one forward per pyramid level (the layout dlib uses vs the obvious alternative).

Each point is the median of a few forwards (onnxruntime and folded eager, 2 threads); the
floor curve is the FLOP count at the measured GEMM peak, so the gap is visible per size.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import forms as F
from benchmarks.context import PHOTO, Context, load_rgb
from benchmarks.dlib_cases import MMOD
from benchmarks.timing import count_flops, measure


def scaling_cases(ctx: Context) -> None:
    import torch

    from faceport.converters.dlib.family import FAMILY
    from faceport.detect.mmod import MMODDetector
    from faceport.lower import lower

    if not MMOD.is_file():
        ctx.skip("scaling", "-", "*", f"{MMOD} missing")
        return
    graph = FAMILY.convert(MMOD)
    det = MMODDetector(graph)
    module = lower(graph)
    widths = (160, 320, 640) if ctx.quick else (160, 320, 480, 640, 960, 1280)
    example, _ = det.to_tensor(load_rgb(PHOTO, (320, 240)))
    built = F.build_forms(graph, example, ctx.threads, ("eager-folded", "onnxruntime"))
    good = {n: f for n, f in built.items() if isinstance(f, F.Form)}
    title = "MMOD forward (tiled pyramid) ms vs image width (4:3)"
    for w in widths:
        tensor, _ = det.to_tensor(load_rgb(PHOTO, (w, w * 3 // 4)))
        flops = count_flops(module, torch.from_numpy(tensor))
        ctx.curve(title, "floor (measured GEMM peak)", w, flops / ctx.peak_flops * 1e3)
        for name, form in good.items():
            t = measure(partial(form.run, tensor), warmup=1, min_runs=3, budget_s=1.5)
            ctx.curve(title, name, w, t.median * 1e3)
    if "onnxruntime" in good:
        _levels(ctx, det, good["onnxruntime"])


def _levels(ctx: Context, det: object, form: F.Form) -> None:
    """Cumulative time of separate per-level forwards vs the one packed forward."""
    from faceport.detect.mmod_pyramid import level_size

    image = load_rgb(PHOTO, (640, 480))
    packed, layout = det.to_tensor(image)  # type: ignore[attr-defined]
    t_packed = measure(partial(form.run, packed), warmup=1, min_runs=3, budget_s=2).median
    title = "MMOD 640x480: packed pyramid vs one forward per level (ms)"
    total = 0.0
    h, w = image.shape[:2]
    sizes = [(h, w)]
    while len(sizes) < len(layout.rects):
        sizes.append(level_size(det.pyramid_down, *sizes[-1]))  # type: ignore[attr-defined]
    pad = det.outer_padding  # type: ignore[attr-defined]
    for i, (lh, lw) in enumerate(sizes, start=1):
        # level i alone with the canvas' outer padding (content does not change the time)
        tensor = np.zeros((1, 3, lh + 2 * pad, lw + 2 * pad), np.float32)
        try:
            total += measure(partial(form.run, tensor), warmup=1, min_runs=3, budget_s=1).median
        except Exception as exc:  # too small for the network's unpadded 5x5/stride-2 stem
            ctx.notes.append(f"level {i} ({lw}x{lh}) alone cannot run: {str(exc)[:80]}")
            break
        ctx.curve(title, "separate forwards (cumulative)", i, total * 1e3)
        ctx.curve(title, "one packed forward (all levels)", i, t_packed * 1e3)
    ctx.notes.append(
        f"MMOD 640x480: the packed canvas {layout.cols}x{layout.rows} holds {len(layout.rects)} "
        f"levels in one forward ({t_packed * 1e3:.0f} ms); separate per-level forwards took "
        f"{total * 1e3:.0f} ms in all (and would not reproduce dlib's cross-level borders)."
    )
