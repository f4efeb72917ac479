"""``python -m faceport.demo``: the whole job on dlib's face detector, checked against dlib.

Converts ``mmod_human_face_detector.dat`` from the ``face_recognition_models`` package,
exports its whole detector (uint8 image in, boxes out: dlib's full pyramid and NMS in the
graph) at the photo's size, runs that file in onnxruntime, runs faceport's Python pipeline
and dlib's own ``cnn_face_detection_model_v1`` on scikit-image's astronaut, compares the
detections with dlib's and prints warm timings side by side. Writes the ``.onnx``,
``annotated.png`` and ``parity.json`` to ``out/demo``. Exit status 1 when parity fails, 2
when something the demo needs is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceport.errors import FaceportError

log = logging.getLogger(__name__)

MODEL_NAME = "mmod_human_face_detector.dat"


def packaged_model(name: str = MODEL_NAME) -> Path:
    """A model file shipped in the ``face_recognition_models`` package (not imported:
    importing it needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FaceportError(
            "face_recognition_models is not installed", hint="pip install face_recognition_models"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise FaceportError("model file missing from face_recognition_models", file=str(path))
    return path


def astronaut() -> np.ndarray:
    try:
        from skimage import data
    except ImportError:
        raise FaceportError("scikit-image is needed for the demo image",
                            hint="pip install scikit-image") from None
    return np.ascontiguousarray(data.astronaut(), dtype=np.uint8)


def draw(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, ref_boxes: np.ndarray) -> Any:
    """The image with faceport's boxes (green, score) and dlib's (red, thin)."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image)
    pen = ImageDraw.Draw(canvas)
    for x1, y1, x2, y2 in ref_boxes:
        pen.rectangle((x1, y1, x2, y2), outline=(255, 0, 0), width=1)
    for (x1, y1, x2, y2), score in zip(boxes, scores):
        pen.rectangle((x1, y1, x2, y2), outline=(0, 255, 0), width=2)
        pen.text((x1 + 2, max(0.0, y1 - 12)), f"{score:.3f}", fill=(0, 255, 0))
    return canvas


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def warm_ms(call: Any, repeats: int) -> tuple[Any, float]:
    """(result, median milliseconds of ``repeats`` calls after one warm-up call)."""
    result = call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return result, 1000.0 * float(np.median(times))


def run(out_dir: Path, upsample_num_times: int, repeats: int = 3) -> int:
    """Convert, export the whole detector at the photo's size, run the file in onnxruntime,
    check it (and faceport's Python pipeline) against dlib, and time all three warm."""
    from faceport.atomic import write_atomic
    from faceport.converters import family
    from faceport.detect.base import DetectOptions
    from faceport.detect.mmod import MMODDetector
    from faceport.exporters.detector import export_detector
    from faceport.imageio import save_rgb
    from faceport.ort_session import open_session
    from faceport.verify.compare import compare_detections
    from faceport.verify.references.dlib_bin import DlibMMODRunner

    model = packaged_model()
    image = astronaut()
    runner = DlibMMODRunner(model, upsample_num_times=upsample_num_times)
    reason = runner.why_unavailable()
    if reason is not None:
        print(f"dlib reference unavailable: {reason}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    graph = family("dlib").convert(model)
    t_convert = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = image.shape[:2]
    started = time.perf_counter()
    exported = export_detector(graph, out_dir / f"mmod_{w}x{h}_up{upsample_num_times}.onnx",
                               size=(h, w), upsample=upsample_num_times)  # fmt: skip
    t_export = time.perf_counter() - started
    session = open_session(exported.path, threads=2)
    iou = MMODDetector(graph).options.nms_iou_thresh
    feed = {"image": image, "score_threshold": np.array(0.0, np.float32),
            "iou_threshold": np.array(iou, np.float32)}  # fmt: skip
    (boxes, scores), ms_onnx = warm_ms(lambda: session.run(None, feed), repeats)
    with MMODDetector(graph) as detector:
        options = DetectOptions(upsample=upsample_num_times)
        ours, ms_torch = warm_ms(lambda: detector(image, options), repeats)
    with runner:
        ref, ms_dlib = warm_ms(lambda: runner.infer({"image": image}), repeats)
    result = compare_detections(ref["boxes"], ref["scores"], boxes, scores)
    exact = bool(np.array_equal(np.asarray(boxes, np.float64), ref["boxes"]))
    python = compare_detections(ref["boxes"], ref["scores"], ours.boxes, ours.scores)
    png = save_rgb(np.asarray(draw(image, boxes, scores, ref["boxes"])),
                   out_dir / "annotated.png")  # fmt: skip
    report = {
        "model": str(model),
        "image": "skimage.data.astronaut()",
        "upsample_num_times": upsample_num_times,
        "onnx": {"file": str(exported.path), "sha256": exported.sha256,
                 "boxes": np.asarray(boxes).tolist(), "scores": np.asarray(scores).tolist()},
        "faceport_python": {"boxes": ours.boxes.tolist(), "scores": ours.scores.tolist()},
        "dlib": {"boxes": ref["boxes"].tolist(), "scores": ref["scores"].tolist()},
        "comparison": result.to_json(),
        "boxes_identical": exact,
        "python_comparison": python.to_json(),
        "seconds": {"convert": t_convert, "export": t_export},
        "warm_ms_median": {"onnxruntime": ms_onnx, "faceport_python": ms_torch, "dlib": ms_dlib},
        "repeats": repeats,
    }  # fmt: skip
    parity = out_dir / "parity.json"
    write_atomic(parity, lambda tmp: _write_json(tmp, report))
    print(f"model      {model}")
    print(f"converted  {len(graph.nodes)} nodes, {graph.param_count()} parameters "
          f"in {t_convert:.2f}s")
    print(f"exported   {exported.path} ({w}x{h}, upsample {upsample_num_times}, full pyramid "
          f"and dlib's NMS in the graph) in {t_export:.1f}s")
    print(f"\n{'runs on the astronaut':28} {'faces':>5} {'warm ms':>9} {'vs dlib':>9}")
    rows = [("dlib (dlib-bin)", len(ref["scores"]), ms_dlib),
            ("exported .onnx, onnxruntime", len(scores), ms_onnx),
            ("faceport Python pipeline", len(ours), ms_torch)]  # fmt: skip
    for label, faces, ms in rows:
        print(f"{label:28} {faces:5d} {ms:9.1f} {ms_dlib / ms:8.1f}x")
    print(f"(median of {repeats} calls after a warm-up, 2 threads; `make bench` for more)\n")
    for (x1, y1, x2, y2), s in zip(boxes, scores):
        print(f"onnx box   [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}] confidence {s:.6f}")
    print(f"parity     .onnx vs dlib: {result}; rectangles identical: {exact}")
    print(f"           Python pipeline vs dlib: {python}")
    print(f"wrote      {png}")
    print(f"           {parity}")
    return 0 if result and exact and python else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceport.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--upsample", type=int, default=0, help="upsample_num_times")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per runtime")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        return run(args.out, args.upsample, max(1, args.repeats))
    except FaceportError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
