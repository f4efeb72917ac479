"""Check a converted model against its source framework and across backends.

Runs the source framework (dlib, MXNet in its reference venv, the S3FD reference) and
faceport's forms on the same images, compares raw outputs and detections with the documented
tolerance table (docs/tolerances.md), optionally localises the first diverging layer, and
writes report.json + report.html. Inputs: photos from --images, seeded random images, edge
cases (constant, black, saturated, tiny, odd-sized, large).
Exit code: 0 within tolerance, 1 a check failed (or regressed vs --baseline), 2 an error.

Example: faceport verify mmod_human_face_detector.dat --images photos/ --backends all
--inputs photos,random,edge --localise --report out/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceport.cli.common import add_detect_options, add_model_argument, detect_options, load_model
from faceport.errors import FaceportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--images", type=Path, help="an image or a folder (input kind photos)")
    parser.add_argument(
        "--inputs",
        default=None,
        help="comma list of input kinds: photos, random, edge (default: photos with --images, "
        "else random,edge)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random/edge inputs")
    parser.add_argument(
        "--source", type=Path, help="the source model when MODEL is a converted .safetensors"
    )
    from faceport.backends import names

    parser.add_argument(
        "--backends", default="torch-cpu", help=f"comma list of {', '.join(names())}, or all"
    )
    parser.add_argument("--localise", action="store_true", help="find the first diverging layer")
    parser.add_argument(
        "--localise-against",
        default="reference,onnxruntime-cpu",
        help="comma list: reference (source framework), onnxruntime-cpu (ONNX with taps)",
    )
    parser.add_argument("--report", type=Path, help="folder for report.json and report.html")
    parser.add_argument("--baseline", type=Path, help="a previous report.json: fail on regression")
    add_detect_options(parser)
    parser.add_argument("--max-images", type=int, default=50, help="at most this many photos")


def run(args: argparse.Namespace) -> int:
    from faceport.verify.inputs import make_inputs, parse_kinds
    from faceport.verify.matrix import VerifyOptions, run_matrix
    from faceport.verify.report import compare_to_baseline, write_report

    kinds = parse_kinds(args.inputs or ("photos" if args.images else "random,edge"))
    baseline = _read_baseline(args.baseline)
    graph = load_model(args)
    source = args.source
    if source is None and args.model.suffix != ".safetensors":
        source = args.model
    images = make_inputs(kinds, args.images, max_photos=args.max_images, seed=args.seed)
    options = VerifyOptions(
        backends=[b.strip() for b in args.backends.split(",") if b.strip()],
        localise=args.localise,
        localise_against=[a.strip() for a in args.localise_against.split(",") if a.strip()],
        detector_options=detect_options(args),
    )
    result = run_matrix(graph, source, images, options)
    print(result)
    for case in result.report["cases"]:
        if "skipped" in case:
            print(f"[{case['image']}] skipped: {case['skipped']}")
        for comp in case["comparisons"]:
            print(f"[{case['image']}] {comp['text']}")
        if "text" in case.get("detections", {}):
            print(f"[{case['image']}] {case['detections']['text']}")
    for loc in result.report.get("localisation") or []:
        print(loc.get("text") or f"localisation vs {loc['against']} skipped: {loc['skipped']}")
    code = 0 if result.passed else 1
    if baseline is not None:
        worse = compare_to_baseline(result.report, baseline)
        for line in worse:
            print(f"REGRESSION {line}")
        if worse:
            code = 1
    if args.report is not None:
        json_path, html_path = write_report(result, args.report)
        print(f"wrote {json_path} and {html_path}")
    return code


def _read_baseline(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        baseline = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FaceportError(f"cannot read baseline: {exc}", file=str(path)) from None
    if not isinstance(baseline, dict) or not str(baseline.get("schema", "")).startswith(
        "faceport.verify/"
    ):
        raise FaceportError(
            "not a faceport verify report",
            file=str(path),
            field="schema",
            expected="faceport.verify/N",
            found=baseline.get("schema") if isinstance(baseline, dict) else type(baseline).__name__,
        )
    return baseline
