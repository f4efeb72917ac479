"""RetinaFace (MXNet) side by side: mnet.25 and the R50-structure fixture vs MXNet 1.9 CPU.

MXNet runs in ``.venv-mxnet`` behind faceport's JSON-lines server (``OMP_NUM_THREADS`` as
for us, ``MXNET_ENGINE_TYPE=NaiveEngine``). Two MXNet figures per row: the round trip seen
from here (npz out, forward, npz back) and the server's own time for the request (the
forward plus its npz I/O, timed inside the subprocess). faceport's end-to-end row is the
whole detector (preprocess, forward, anchors, decode, NMS) with the onnxruntime forward.
"""

from __future__ import annotations

import logging
import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import forms as F
from benchmarks.context import PHOTO, REPO, SHARED, Context, load_rgb
from benchmarks.timing import count_flops, measure, measure_interleaved

log = logging.getLogger(__name__)

MNET = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
R50 = REPO / "build" / "mxnet_fixtures" / "r50" / "retinaface_r50-symbol.json"
MNET_TARGET_SPEEDUP, MNET_TARGET_MS, R50_TARGET_X_FLOOR = 2.0, 12.0, 1.2


class _MXNetTimed:
    """One (symbol, params, input) request to the shared MXNet server, with its inside time."""

    def __init__(self, symbol: Path, tensor: np.ndarray) -> None:
        from faceport.verify.runners.mxnet_ref import save_npz, shared_server

        self.server = shared_server()
        self.tmp = tempfile.TemporaryDirectory(prefix="faceport-bench-mx-")
        folder = Path(self.tmp.name)
        save_npz(folder / "in.npz", {"data": tensor})
        params = sorted(symbol.parent.glob(symbol.name.replace("-symbol.json", "-*.params")))
        self.payload: dict[str, Any] = {"symbol": str(symbol), "params": str(params[-1]),
                        "inputs": str(folder / "in.npz"), "result": str(folder / "out.npz"),
                        "outputs": None}
        self.inside: list[float] = []

    def __call__(self) -> None:
        self.server.send(self.payload)
        # receive() drops the server's "seconds"; read the answer line itself
        answer = self.server._read_line(600.0, "benchmark request")
        if not answer.get("ok"):
            raise RuntimeError(str(answer.get("error", ""))[-500:])
        self.inside.append(float(answer["seconds"]))

    def first_output(self) -> np.ndarray:
        with np.load(self.payload["result"]) as data:
            return np.asarray(data[data.files[0]])


def _detector(graph: Any, form: F.Form) -> Any:
    from faceport.detect.retinaface import RetinaFaceDetector

    class FormDetector(RetinaFaceDetector):
        def forward(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(self.output_names, form.run_all(tensor)))

    return FormDetector(graph)


def retinaface_cases(ctx: Context) -> None:
    from faceport.converters.mxnet.family import FAMILY
    from faceport.lower import lower
    from faceport.verify.runners.mxnet_ref import why_mxnet_unavailable

    os.environ.setdefault("OMP_NUM_THREADS", str(ctx.threads))
    no_mxnet = why_mxnet_unavailable()
    models = [("mnet.25", MNET), ("R50 (random weights)", R50)]
    for label, symbol in models:
        if not symbol.is_file():
            ctx.skip("retinaface", label, "*", f"{symbol} missing (make mxnet-fixtures)")
            continue
        graph = FAMILY.convert(symbol)
        module = lower(graph)
        sizes = [(640, 480)] if ctx.quick else [(640, 480), (1920, 1080)]
        names = ("eager", "onnxruntime") if ctx.quick or label != "mnet.25" else F.CPU_FORMS
        probe = _detector(graph, F.Form("probe", lambda x: [x], 0.0))
        example = probe.preprocess(load_rgb(PHOTO, sizes[0]))
        built = F.build_forms(graph, example, ctx.threads, names)
        good = {n: f for n, f in built.items() if isinstance(f, F.Form)}
        for w, h in sizes:
            setting = f"{label} {w}x{h}"
            image = load_rgb(PHOTO, (w, h))
            tensor = probe.preprocess(image)
            flops = float(count_flops(module, _t(tensor)))
            fns: dict[str, Any] = {n: partial(f.run_all, tensor) for n, f in good.items()}
            mx = None if no_mxnet else _MXNetTimed(symbol, tensor)
            if mx is not None:
                fns["mxnet"] = mx
            budget = 8 if ctx.quick else 15
            timings = measure_interleaved(fns, min_runs=3, budget_s=budget)
            original = timings.pop("mxnet", None)
            if mx is None:
                ctx.skip("retinaface", setting, "mxnet", str(no_mxnet))
            else:
                inside = sorted(mx.inside)
                ctx.row("retinaface", setting, "mxnet (round trip)", original, flops=flops,
                        note=f"inside the subprocess: {inside[len(inside) // 2] * 1e3:.1f} ms "
                             f"median (n={len(inside)})")
            ref = None if mx is None else mx.first_output()
            x_floor_target = label.startswith("R50") and (w, h) == (640, 480)
            for name, form in good.items():
                parity = "" if ref is None else \
                    f"max abs {F.max_abs_diff(form.run(tensor), ref):.1e} vs MXNet (output 0)"
                target, met = "", None
                if x_floor_target and name == "onnxruntime":
                    x_floor = timings[name].median / (flops / ctx.peak_flops)
                    target, met = f"<= {R50_TARGET_X_FLOOR}x floor", x_floor <= R50_TARGET_X_FLOOR
                ctx.row("retinaface", setting, f"{name} (forward)", timings[name], flops=flops,
                        original=original, parity=parity, note=form.note, target=target, met=met)
            if "onnxruntime" in good:
                det = _detector(graph, good["onnxruntime"])
                e2e = measure(partial(det, image), warmup=1, min_runs=3, budget_s=budget / 2)
                target, met = "", None
                if label == "mnet.25" and (w, h) == (640, 480) and original is not None:
                    target = f">= {MNET_TARGET_SPEEDUP:.0f}x MXNet, <= {MNET_TARGET_MS:.0f} ms"
                    met = (original.median / e2e.median >= MNET_TARGET_SPEEDUP
                           and e2e.median * 1e3 <= MNET_TARGET_MS)
                ctx.row("retinaface", setting, "onnxruntime (end to end)", e2e, flops=flops,
                        original=original, target=target, met=met,
                        note=f"{len(det(image).boxes)} faces; MXNet figure is forward only")
        for name, reason in built.items():
            if isinstance(reason, str):
                ctx.skip("retinaface", label, name, reason)


def _t(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)
