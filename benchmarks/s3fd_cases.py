"""S3FD side by side: faceport's forms vs the independent PyTorch reference model.

The "original" here is ``faceport/verify/references/s3fd_model.py`` (a plain ``nn.Module``
written from the paper and SFD_pytorch's layer list, loaded with the same random-weight state dict
``tools/s3fd_fixtures.py`` writes): S3FD's original framework is PyTorch itself, so the
speed-up column is faceport's lowering/export against hand-written torch, same threads.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import numpy as np

from benchmarks import forms as F
from benchmarks.context import GROUP_PHOTO, Context, load_rgb
from benchmarks.timing import count_flops, measure

log = logging.getLogger(__name__)

S3FD_TARGET_X_FLOOR = 1.2


def s3fd_cases(ctx: Context) -> None:
    import torch

    try:
        from faceport.verify.references.s3fd_model import reference_model
        from tests.reference import s3fd_session as session
    except ImportError as exc:
        ctx.skip("s3fd", "-", "*", f"S3FD reference not importable: {exc}")
        return
    from faceport.detect.s3fd import S3FDDetector, preprocess
    from faceport.lower import lower

    graph = session.converted(session.CANONICAL)
    reference = reference_model(session.weights())
    image = load_rgb(GROUP_PHOTO, (640, 480))
    tensor = preprocess(image)
    flops = float(count_flops(lower(graph), torch.from_numpy(tensor)))
    names = ("onnxruntime",) if ctx.quick else F.CPU_FORMS  # ~7 s a forward at load ~8
    built = F.build_forms(graph, tensor, ctx.threads, names)
    good = {n: f for n, f in built.items() if isinstance(f, F.Form)}

    def run_reference() -> list[Any]:
        with torch.inference_mode():
            return [o.numpy() for o in reference(torch.from_numpy(tensor))]

    fns: dict[str, Any] = {n: partial(f.run_all, tensor) for n, f in good.items()}
    fns["reference"] = run_reference
    timings, peak = ctx.timed_with_floor("s3fd 640x480", fns, min_runs=2 if ctx.quick else 3,
                                         budget_s=5 if ctx.quick else 25)
    original = timings.pop("reference")
    ref_out = run_reference()
    setting = "640x480"
    ctx.row("s3fd", setting, "torch reference (eager)", original, flops=flops, peak_flops=peak)
    for name, form in good.items():
        outs = form.run_all(tensor)
        err = max(F.max_abs_diff(a, b) for a, b in zip(outs, ref_out))
        target, met = "", None
        if name == "onnxruntime":
            x_floor = timings[name].median / (flops / peak)
            target, met = f"<= {S3FD_TARGET_X_FLOOR}x floor", x_floor <= S3FD_TARGET_X_FLOOR
        ctx.row("s3fd", setting, f"{name} (forward)", timings[name], flops=flops,
                original=original, parity=f"max abs {err:.1e} vs reference (12 heads)",
                peak_flops=peak,
                note=form.note, target=target, met=met)
    if "onnxruntime" in good:
        form = good["onnxruntime"]

        class FormDetector(S3FDDetector):
            def forward(self, image_rgb: np.ndarray) -> list[np.ndarray]:
                return form.run_all(preprocess(image_rgb, self.mean))

        det = FormDetector(graph)
        e2e = measure(partial(det, image), warmup=1, min_runs=3, budget_s=5)
        ctx.row("s3fd", setting, "onnxruntime (end to end)", e2e, flops=flops, original=original,
                peak_flops=peak,
                note=f"{len(det(image).boxes)} faces; reference figure is forward only")
    for name, reason in built.items():
        if isinstance(reason, str):
            ctx.skip("s3fd", setting, name, reason)
