"""Run a converted detector on an image and draw the boxes and scores.

Example: faceport detect mmod_human_face_detector.dat photo.jpg -o annotated.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceport.cli.common import (
    IMAGE_SUFFIXES,
    add_detect_options,
    add_model_argument,
    detect_options,
    load_model,
    output_file,
    torch_device,
)
from faceport.errors import FaceportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("image", type=Path, help="an image file (jpg, png, ...)")
    parser.add_argument("-o", "--output", type=Path, help="annotated image to write (png/jpg)")
    parser.add_argument("--json", type=Path, help="write the detections as JSON")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    add_detect_options(parser)


def run(args: argparse.Namespace) -> int:
    from faceport.detect.draw import draw_detections
    from faceport.imageio import load_rgb, save_rgb
    from faceport.kinds import detector as kind_detector
    from faceport.kinds import kind_of

    options = detect_options(args)
    if args.output is not None:
        output_file(args.output, IMAGE_SUFFIXES, "annotated image (-o)")
    if args.json is not None:
        output_file(args.json, (".json",), "detections file (--json)")
    device = torch_device(args.device)
    graph = load_model(args)
    detector = kind_detector(graph, device=device)
    if detector is None:
        raise FaceportError(
            f"this model is a {kind_of(graph).title}, not a detector", file=str(args.model)
        )
    detector.check(options)  # refuse an option this kind does not take before any work
    image = load_rgb(args.image)
    with detector:
        dets = detector(image, options)
    print(dets.describe(top=20))
    if args.output is not None:
        save_rgb(draw_detections(image, dets), args.output)
        print(f"wrote {args.output}")
    if args.json is not None:
        from faceport.atomic import atomic_path

        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(dets.to_json(), indent=1))
        print(f"wrote {args.json}")
    return 0
