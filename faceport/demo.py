"""``python -m faceport.demo``: convert dlib's face detector and check it against dlib.

Converts ``mmod_human_face_detector.dat`` from the ``face_recognition_models`` package,
runs the converted network (faceport's MMOD pipeline, torch on CPU) and dlib's own
``cnn_face_detection_model_v1`` on scikit-image's astronaut, compares the detections and
writes ``out/demo/annotated.png`` and ``out/demo/parity.json``. Exit status 1 when parity
fails, 2 when something the demo needs is missing.
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


def run(out_dir: Path, upsample_num_times: int) -> int:
    from faceport.atomic import write_atomic
    from faceport.converters import family
    from faceport.detect.base import DetectOptions
    from faceport.detect.mmod import MMODDetector
    from faceport.imageio import save_rgb
    from faceport.verify.compare import compare_detections
    from faceport.verify.references.dlib_bin import DlibMMODRunner

    model = packaged_model()
    image = astronaut()
    started = time.perf_counter()
    graph = family("dlib").convert(model)
    t_convert = time.perf_counter() - started
    detector = MMODDetector(graph)
    started = time.perf_counter()
    ours = detector(image, DetectOptions(upsample=upsample_num_times))
    t_ours = time.perf_counter() - started
    runner = DlibMMODRunner(model, upsample_num_times=upsample_num_times)
    reason = runner.why_unavailable()
    if reason is not None:
        print(f"dlib reference unavailable: {reason}", file=sys.stderr)
        return 2
    with runner:
        started = time.perf_counter()
        ref = runner.infer({"image": image})
        t_ref = time.perf_counter() - started
    result = compare_detections(ref["boxes"], ref["scores"], ours.boxes, ours.scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = save_rgb(np.asarray(draw(image, ours.boxes, ours.scores, ref["boxes"])),
                   out_dir / "annotated.png")
    report = {
        "model": str(model),
        "image": "skimage.data.astronaut()",
        "upsample_num_times": upsample_num_times,
        "faceport": {"boxes": ours.boxes.tolist(), "scores": ours.scores.tolist()},
        "dlib": {"boxes": ref["boxes"].tolist(), "scores": ref["scores"].tolist()},
        "comparison": result.to_json(),
        "seconds": {"convert": t_convert, "faceport": t_ours, "dlib": t_ref},
    }
    parity = out_dir / "parity.json"
    write_atomic(parity, lambda tmp: _write_json(tmp, report))
    print(f"model      {model}")
    print(f"converted  {len(graph.nodes)} nodes, {graph.param_count()} parameters "
          f"in {t_convert:.2f}s")
    print(f"faceport   {len(ours)} face(s) in {t_ours:.2f}s")
    for (x1, y1, x2, y2), s in zip(ours.boxes, ours.scores):
        print(f"           [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}] confidence {s:.6f}")
    print(f"dlib       {len(ref['scores'])} face(s) in {t_ref:.2f}s")
    print(f"parity     {result}")
    print(f"wrote      {png}")
    print(f"           {parity}")
    return 0 if result else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceport.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--upsample", type=int, default=0, help="upsample_num_times")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        return run(args.out, args.upsample)
    except FaceportError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
