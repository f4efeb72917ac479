"""Check a converted model against its source framework and across backends.

Runs the source framework (dlib, MXNet in its reference venv, the S3FD reference) and
faceport's forms on the same images, compares raw outputs and detections with the documented
tolerance table, optionally localises the first diverging layer, and writes JSON + HTML.
Exit code: 0 within tolerance, 1 a check failed (or regressed vs --baseline), 2 an error.

Example: faceport verify mmod_human_face_detector.dat --images photos/ --report out/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceport.cli.common import add_model_argument, load_model
from faceport.errors import FaceportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--images", type=Path, required=True, help="an image or a folder")
    parser.add_argument(
        "--source", type=Path, help="the source model when MODEL is a converted .safetensors"
    )
    parser.add_argument(
        "--backends", default="torch-cpu", help="comma list (torch-cpu, torch-cuda, ..., all)"
    )
    parser.add_argument("--localise", action="store_true", help="find the first diverging layer")
    parser.add_argument("--report", type=Path, help="folder for report.json and report.html")
    parser.add_argument("--baseline", type=Path, help="a previous report.json: fail on regression")
    parser.add_argument("--upsample", type=int, help="dlib: upsample_num_times")
    parser.add_argument("--max-images", type=int, default=50, help="at most this many images")


def run(args: argparse.Namespace) -> int:
    from faceport.imageio import list_images, load_rgb
    from faceport.verify.matrix import VerifyOptions, run_matrix
    from faceport.verify.report import compare_to_baseline, write_report

    graph = load_model(args)
    source = args.source
    if source is None and args.model.suffix != ".safetensors":
        source = args.model
    paths = list_images(args.images)[: args.max_images]
    if not paths:
        raise FaceportError("no images found", file=str(args.images))
    images = [(p.name, load_rgb(p)) for p in paths]
    options = VerifyOptions(backends=[b.strip() for b in args.backends.split(",") if b.strip()],
                            localise=args.localise)
    if args.upsample is not None:
        options.detector_options["upsample_num_times"] = args.upsample
    result = run_matrix(graph, source, images, options)
    print(result)
    for case in result.report["cases"]:
        for comp in case["comparisons"]:
            print(f"[{case['image']}] {comp['text']}")
        if "text" in case.get("detections", {}):
            print(f"[{case['image']}] {case['detections']['text']}")
    loc = result.report.get("localisation")
    if loc and "text" in loc:
        print(loc["text"])
    code = 0 if result.passed else 1
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FaceportError(f"cannot read baseline: {exc}", file=str(args.baseline)) from None
        worse = compare_to_baseline(result.report, baseline)
        for line in worse:
            print(f"REGRESSION {line}")
        if worse:
            code = 1
    if args.report is not None:
        json_path, html_path = write_report(result, args.report)
        print(f"wrote {json_path} and {html_path}")
    return code
