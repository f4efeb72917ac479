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
from benchmarks.timing import Timing, count_flops, summarise

log = logging.getLogger(__name__)

MNET = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
R50 = REPO / "build" / "mxnet_fixtures" / "r50" / "retinaface_r50-symbol.json"
R50_FULL = REPO / "build" / "bench" / "r50_full" / "retinaface_r50full-symbol.json"
MXNET_PYTHON = REPO / ".venv-mxnet" / "bin" / "python"
MNET_TARGET_SPEEDUP, MNET_TARGET_MS, R50_TARGET_X_FLOOR = 2.0, 12.0, 1.2
MNET_INT8_TARGET_MS = 8.0


class _MXNetTimed:
    """One (symbol, params, input) request to the shared MXNet server, with its inside time.
    With ``image`` it asks for insightface's whole ``detect`` pipeline instead of a forward."""

    def __init__(self, symbol: Path, tensor: np.ndarray | None = None,
                 image: np.ndarray | None = None) -> None:
        from faceport.verify.references.mxnet_venv import save_npz, shared_server

        self.server = shared_server()
        self.tmp = tempfile.TemporaryDirectory(prefix="faceport-bench-mx-")
        folder = Path(self.tmp.name)
        if image is not None:
            arrays = {"image": image}
        elif tensor is not None:
            arrays = {"data": tensor}
        else:
            raise ValueError("_MXNetTimed needs a tensor or an image")
        save_npz(folder / "in.npz", arrays)
        params = sorted(symbol.parent.glob(symbol.name.replace("-symbol.json", "-*.params")))
        self.payload: dict[str, Any] = {"symbol": str(symbol), "params": str(params[-1]),
                        "inputs": str(folder / "in.npz"), "result": str(folder / "out.npz"),
                        "outputs": None}
        if image is not None:
            self.payload["detect"] = {"threshold": 0.5, "nms": 0.4}
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

    def result(self) -> dict[str, np.ndarray]:
        with np.load(self.payload["result"]) as data:
            return {k: np.asarray(data[k]) for k in data.files}

    def inside_median(self) -> Timing:
        """The server's own times (pipeline only, no npz I/O) as a Timing."""
        return summarise(self.inside)


def _detector(graph: Any, form: F.Form) -> Any:
    from faceport.detect.retinaface import RetinaFaceDetector

    class FormDetector(RetinaFaceDetector):
        def forward(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(self.output_names, form.run_all(tensor)))

    return FormDetector(graph)


def retinaface_cases(ctx: Context) -> None:
    from faceport.converters.mxnet.family import FAMILY
    from faceport.lower import lower
    from faceport.verify.references.mxnet_venv import why_mxnet_unavailable

    os.environ.setdefault("OMP_NUM_THREADS", str(ctx.threads))
    no_mxnet = why_mxnet_unavailable()
    models = [("mnet.25", MNET), ("R50 narrow fixture (random weights)", R50),
              ("R50 full size (random weights)", _r50_full(ctx))]
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
            timings, peak = ctx.timed_with_floor(f"retinaface {setting}", fns, min_runs=3,
                                                 budget_s=budget)
            original = timings.pop("mxnet", None)
            if mx is None:
                ctx.skip("retinaface", setting, "mxnet", str(no_mxnet))
            else:
                inside = sorted(mx.inside)
                ctx.row("retinaface", setting, "mxnet (round trip)", original, flops=flops,
                        peak_flops=peak,
                        note=f"inside the subprocess: {inside[len(inside) // 2] * 1e3:.1f} ms "
                             f"median (n={len(inside)})")
            ref = None if mx is None else mx.first_output()
            x_floor_target = label.startswith("R50 full") and (w, h) == (640, 480)
            for name, form in good.items():
                parity = "" if ref is None else \
                    f"max abs {F.max_abs_diff(form.run(tensor), ref):.1e} vs MXNet (output 0)"
                target, met = "", None
                if x_floor_target and name == "onnxruntime":
                    x_floor = timings[name].median / (flops / peak)
                    target, met = f"<= {R50_TARGET_X_FLOOR}x floor", x_floor <= R50_TARGET_X_FLOOR
                ctx.row("retinaface", setting, f"{name} (forward)", timings[name], flops=flops,
                        original=original, peak_flops=peak, parity=parity, note=form.note,
                        target=target, met=met)
            if "onnxruntime" in good:
                _end_to_end(ctx, label, symbol, graph, good["onnxruntime"], image, setting,
                            flops, original, no_mxnet is None)
        for name, reason in built.items():
            if isinstance(reason, str):
                ctx.skip("retinaface", label, name, reason)


def _r50_full(ctx: Context) -> Path:
    """The full-size R50 checkpoint, made once with MXNet (``make_fixtures.py --r50-full``)."""
    import subprocess

    if not R50_FULL.is_file() and MXNET_PYTHON.is_file():
        log.info("making the full-size R50 checkpoint (random weights, ~110 MB)")
        subprocess.run([str(MXNET_PYTHON), str(REPO / "tools" / "mxnet_ref" / "make_fixtures.py"),
                        "--r50-full", str(R50_FULL.parent)], check=False, timeout=900,
                       capture_output=True)
    if not R50_FULL.is_file():
        ctx.notes.append("full-size R50 not measured: .venv-mxnet missing (make reference-mxnet)")
    return R50_FULL


def _end_to_end(
    ctx: Context, label: str, symbol: Path, graph: Any, form: F.Form, image: np.ndarray,
    setting: str, flops: float, original: Timing | None, with_mxnet: bool,
) -> None:
    """faceport's whole detector (onnxruntime forward) against insightface's whole ``detect``
    on MXNet, round-robin; the MXNet row is the pipeline's time inside its process."""
    det = _detector(graph, form)
    fns: dict[str, Any] = {"faceport": partial(det, image)}
    int8 = _int8_detector(ctx, graph) if label == "mnet.25" else None
    if int8 is not None:
        fns["int8"] = partial(int8, image)
    mx_e2e = _MXNetTimed(symbol, image=image) if with_mxnet else None
    if mx_e2e is not None:
        fns["mxnet"] = mx_e2e
    budget = 6 if ctx.quick else 12
    timings, peak = ctx.timed_with_floor(f"retinaface {setting} end to end", fns, min_runs=3,
                                         budget_s=budget)
    ours = det(image)
    target, met, parity, mx_time = "", None, "", None
    if mx_e2e is not None:
        mx_time = mx_e2e.inside_median()
        theirs = mx_e2e.result()
        parity = _detections_parity(ours, theirs)
        ctx.row("retinaface", setting, "mxnet + insightface detect (end to end)", mx_time,
                flops=flops, peak_flops=peak,
                note=f"{len(theirs['scores'])} faces; timed inside the MXNet process")
    if label == "mnet.25" and setting.endswith("640x480") and mx_time is not None:
        e2e = timings["faceport"]
        target = f">= {MNET_TARGET_SPEEDUP:.0f}x MXNet, <= {MNET_TARGET_MS:.0f} ms"
        met = (mx_time.median / e2e.median >= MNET_TARGET_SPEEDUP
               and e2e.median * 1e3 <= MNET_TARGET_MS)
        if original is not None:
            target += f" (vs MXNet forward alone: {original.median / e2e.median:.2f}x)"
    ctx.row("retinaface", setting, "onnxruntime (end to end)", timings["faceport"], flops=flops,
            original=mx_time, peak_flops=peak, target=target, met=met, parity=parity,
            note=f"{len(ours.boxes)} faces")
    if int8 is not None:
        from faceport.verify.compare import compare_detections

        got = int8(image)
        vs_fp32 = compare_detections(ours.boxes, ours.scores, got.boxes, got.scores)
        speed = timings["faceport"].median / timings["int8"].median
        ctx.row("retinaface", setting, "onnxruntime int8 (end to end)", timings["int8"],
                flops=flops, original=mx_time, peak_flops=peak,
                target=f"<= {MNET_INT8_TARGET_MS:.0f} ms, >= 1.5x fp32 ({speed:.2f}x)",
                met=timings["int8"].median * 1e3 <= MNET_INT8_TARGET_MS and speed >= 1.5,
                parity=f"vs fp32: recall {vs_fp32.matched / max(vs_fp32.n_ref, 1):.3f}, "
                f"precision {vs_fp32.matched / max(vs_fp32.n_out, 1):.3f}",
                note="faceport quantize: QDQ int8 per-channel, calibrated on the other photos")


def _int8_detector(ctx: Context, graph: Any) -> Any:
    """The RetinaFace detector on faceport's INT8 network, calibrated on every fixture photo
    but the benchmark's own (at most 640 px wide), or None with a skip row."""
    import tempfile

    from faceport.errors import FaceportError
    from faceport.exporters.quantize import quantize_network
    from faceport.kinds import detector
    from faceport.verify.quantize_gate import SessionNetwork

    photos = [p for p in sorted((SHARED / "images").glob("*/*.jpg")) if p != PHOTO]
    if not photos:
        ctx.skip("retinaface", "int8", "onnxruntime int8", "no calibration photos")
        return None
    images = [load_rgb(p, (640, 480)) for p in photos]
    with tempfile.TemporaryDirectory(prefix="faceport-bench-int8-") as tmp:
        try:
            quantized = quantize_network(graph, images, tmp)
        except FaceportError as exc:
            ctx.skip("retinaface", "int8", "onnxruntime int8", str(exc))
            return None
        network = SessionNetwork(quantized.int8, threads=ctx.threads, spinning=False,
                                 sequential=True)  # as the fp32 onnxruntime form
    det = detector(graph)
    det.use_network(network)
    return det


def _detections_parity(ours: Any, theirs: dict[str, np.ndarray]) -> str:
    """Both lists come out of NMS in descending score order: compare them row by row
    (IoU would say 0 for the zero-area boxes random weights produce)."""
    boxes = np.asarray(theirs["boxes"], np.float64).reshape(-1, 4)
    if len(boxes) != len(ours.boxes):
        return f"{len(ours.boxes)} faces vs MXNet pipeline's {len(boxes)}"
    if not len(boxes):
        return "no faces, as MXNet"
    with np.errstate(invalid="ignore"):
        d_box = float(np.nanmax(np.abs(np.asarray(ours.boxes) - boxes)))
        d_score = float(np.nanmax(np.abs(np.asarray(ours.scores) - theirs["scores"])))
    return (f"same {len(boxes)} faces as MXNet pipeline, max |d box| {d_box:.1e} px, "
            f"max |d score| {d_score:.1e}")


def _t(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)
