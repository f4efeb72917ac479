"""Quantise a model's network to INT8 ONNX, gated by a check against fp32.

  faceport quantize MODEL --calibrate DIR -o model.int8.onnx [--check DIR] [--gate 0.97]
                    [--max-calibration N] [--input-size WxH] [--per-tensor] [--force]

Static QDQ quantisation by onnxruntime (weights int8 per channel, activations uint8),
calibrated on the photos of ``--calibrate`` through the model's own preprocessing. The int8
file is then checked against the fp32 export on photos *not* used for calibration
(``--check DIR``, else every fourth photo of ``--calibrate`` is held out): detectors by their
detections (recall and precision, default gate 0.97), other models by the cosine similarity
of their outputs (default 0.99). Below the gate nothing is written (exit 1) and the message
says by how much it missed; ``--force`` writes anyway. A check that compared nothing is
"not verified" (exit 2 unless ``--force``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from faceport.cli.common import add_model_argument, load_model, output_file
from faceport.cli.export import input_size
from faceport.errors import FaceportError

HOLD_OUT_EVERY = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--calibrate", type=Path, required=True, metavar="DIR",
                        help="folder (or one photo) of calibration images")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx to write")
    parser.add_argument("--check", type=Path, metavar="DIR",
                        help="photos for the fp32 check (default: every 4th of --calibrate, "
                        "held out of calibration)")  # fmt: skip
    parser.add_argument("--gate", type=float, metavar="X",
                        help="required recall and precision (detectors, default 0.97) or "
                        "output cosine similarity (others, default 0.99)")  # fmt: skip
    parser.add_argument("--max-calibration", type=int, default=100, metavar="N",
                        help="use at most N calibration photos (default 100)")  # fmt: skip
    parser.add_argument("--input-size", type=input_size, metavar="WxH",
                        help="fixed input size (default dynamic)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of per output channel")
    parser.add_argument("--force", action="store_true",
                        help="write the file even when the gate fails or compared nothing")


def _split(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """(calibration photos, check photos), disjoint."""
    from faceport.imageio import list_images

    photos = list_images(args.calibrate)
    if not photos:
        raise FaceportError("no images in the calibration folder", file=str(args.calibrate))
    if args.check is not None:
        check = list_images(args.check)
        if not check:
            raise FaceportError("no images in the check folder", file=str(args.check))
        names = {p.resolve() for p in check}
        calibration = [p for p in photos if p.resolve() not in names]
        if not calibration:
            raise FaceportError("every calibration photo is also a check photo",
                                file=str(args.calibrate))  # fmt: skip
    else:
        if len(photos) < 2:
            raise FaceportError("need at least 2 calibration photos (one is held out to check "
                                "the result) or --check DIR", file=str(args.calibrate))  # fmt: skip
        check = photos[HOLD_OUT_EVERY - 1 :: HOLD_OUT_EVERY] or photos[-1:]
        held = set(check)
        calibration = [p for p in photos if p not in held]
    return calibration[: args.max_calibration], check


def run(args: argparse.Namespace) -> int:
    output_file(args.output, (".onnx",), "int8 output (-o)")
    if args.max_calibration < 1:
        raise FaceportError("--max-calibration must be >= 1", found=args.max_calibration)
    if args.gate is not None and not 0.0 < args.gate <= 1.0:
        raise FaceportError("--gate must be in (0, 1]", found=args.gate)
    size = args.input_size
    calibration, check = _split(args)
    graph = load_model(args)
    from faceport.exporters.quantize import quantize_network
    from faceport.imageio import load_rgb
    from faceport.verify.inputs import fit_images
    from faceport.verify.quantize_gate import check_int8

    print(f"calibrating on {len(calibration)} photos, checking on {len(check)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="faceport-quantize-") as tmp:
        started = time.perf_counter()
        result = quantize_network(graph, [load_rgb(p) for p in calibration], tmp, size=size,
                                  per_channel=not args.per_tensor)  # fmt: skip
        print(f"quantised in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        images = [(p.name, load_rgb(p)) for p in check]
        if size is not None:
            images = fit_images(images, size)
        gate = check_int8(graph, result.fp32, result.int8, [im for _, im in images],
                          required=args.gate)  # fmt: skip
        print(gate)
        speed = _speed(result.fp32, result.int8, graph, images[0][1])
        print(speed)
        if not gate.passed and not args.force:
            print(f"not written: {args.output} (--force writes it anyway)", file=sys.stderr)
            return 1 if gate.compared else 2
        _write(result.int8, args.output, {"gate": gate.to_json()})
    print(f"wrote {args.output}")
    return 0


def _speed(fp32: Path, int8: Path, graph: Any, image: Any) -> str:
    """Warm median of 5 calls of each file on one check photo (2 threads): a side-by-side
    indication, not a benchmark (``make bench`` is)."""
    import numpy as np

    from faceport.kinds import feed
    from faceport.ort_session import open_session

    fed = feed(graph, image)
    times = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        session = open_session(path, threads=2)
        session.run(None, fed)
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            session.run(None, fed)
            runs.append(time.perf_counter() - started)
        times[name] = 1000.0 * float(np.median(runs))
    return (f"network on {image.shape[1]}x{image.shape[0]}: fp32 {times['fp32']:.1f} ms, int8 "
            f"{times['int8']:.1f} ms ({times['fp32'] / times['int8']:.2f}x; median of 5, "
            "2 threads)")  # fmt: skip


def _write(source: Path, target: Path, extra: dict[str, Any]) -> None:
    """The int8 model with the gate result in its metadata, checked and written atomically."""
    import onnx

    from faceport.atomic import atomic_path
    from faceport.exporters.onnx_finish import check_file

    model = onnx.load(str(source))
    prop = model.metadata_props.add()
    prop.key, prop.value = "faceport.int8_gate", json.dumps(extra["gate"], sort_keys=True)
    with atomic_path(target, suffix=".onnx") as tmp:
        tmp.write_bytes(model.SerializeToString(deterministic=True))
        check_file(tmp)
