"""Check a converted model against its source framework and across backends.

Runs the source framework (dlib, MXNet in its reference venv, the S3FD reference) and
faceport's forms on the same images, compares raw outputs and detections with the documented
tolerance table (docs/tolerances.md), optionally localises the first diverging layer, and
writes report.json + report.html. Inputs: photos from --images, seeded random images, edge
cases (constant, black, saturated, tiny, odd-sized, large). A converted .safetensors finds its
source through the path and sha256 it recorded (or pass --source).
Verdicts and exit codes: 0 PASS (every image compared with the source framework, within
tolerance), 1 FAIL (a comparison failed, a faceport form failed, or a regression vs
--baseline), 2 NOT VERIFIED (nothing or not every image was compared with the source
framework: reference missing, failing or timed out) or bad input.

MODEL may also be a file faceport exported (.onnx, .ort, .pt2, .pte, .pt): it runs in its own
runtime (onnxruntime, torch.export, ExecuTorch, TorchScript) against the source framework
(found beside it by name and sha256, or --source): tensor by tensor for a network, detection
by detection for a whole detector (--with-postprocess). A fixed-size file gets every input
resized to its size where that gives the input it takes; inputs that cannot fit are left out.

Example: faceport verify mmod_human_face_detector.dat --images photos/ --backends all
--inputs photos,random,edge --localise --report out/
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceport.cli.common import (
    add_detect_options,
    add_model_argument,
    detect_options,
    load_model,
    output_file,
    output_folder,
    reader_options,
)
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
        "--backends", help=f"comma list of {', '.join(names())}, or all (default torch-cpu; "
        "none when MODEL is a shipped file)",
    )
    parser.add_argument("--localise", action="store_true", help="find the first diverging layer")
    parser.add_argument(
        "--localise-against",
        default="reference,onnxruntime-cpu",
        help="comma list: reference (source framework), onnxruntime-cpu (ONNX with taps)",
    )
    parser.add_argument("--report", type=Path, help="folder for report.json and report.html")
    parser.add_argument("--baseline", type=Path, help="a previous report.json: fail on regression")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as JSON on stdout (instead of the text lines)")
    parser.add_argument("--junit", type=Path, help="write JUnit XML (one testcase per image)")
    add_detect_options(parser)
    parser.add_argument("--max-images", type=int, default=50, help="at most this many photos")
    parser.add_argument(
        "--reference-timeout", type=float, metavar="S",
        help="seconds one reference inference may take (out-of-process references); an image "
        "whose reference times out is not verified",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from faceport.verify.inputs import make_inputs, parse_kinds
    from faceport.verify.matrix import VerifyOptions, run_matrix
    from faceport.verify.report import compare_to_baseline, write_report

    if args.report is not None:
        output_folder(args.report, "report folder (--report)")
    if args.junit is not None:
        output_file(args.junit, (".xml",), "JUnit file (--junit)")
    kinds = parse_kinds(args.inputs or ("photos" if args.images else "random,edge"))
    baseline = _read_baseline(args.baseline)
    from faceport.verify.sources import check_source, locate_source

    if args.reference_timeout is not None and not args.reference_timeout > 0:
        raise FaceportError("--reference-timeout must be > 0", found=args.reference_timeout)
    shipped = _shipped(args)
    source: Path | None
    note: str | None
    backends = None if args.backends is None else [
        b.strip() for b in args.backends.split(",") if b.strip()
    ]  # fmt: skip
    if shipped is not None:
        graph, source, note, extra, artifact = shipped
    else:
        graph, extra = load_model(args), {}
        source, note = args.source, None
        if source is not None:
            check_source(source, graph)
        elif args.model.suffix != ".safetensors":
            source = args.model
        else:
            source, note = locate_source(args.model, graph)
    images = make_inputs(kinds, args.images, max_photos=args.max_images, seed=args.seed)
    detector_options = detect_options(args)
    if shipped is not None:
        from faceport.verify.artifacts import fit_inputs

        images, detector_options, fitted = fit_inputs(
            artifact, graph, images, detector_options, extra.get("detector")
        )
        if fitted:
            print(f"note: {fitted}", file=sys.stderr)
    options = VerifyOptions(
        backends=backends if backends is not None else ([] if shipped else ["torch-cpu"]),
        **extra,
        localise=args.localise,
        localise_against=[a.strip() for a in args.localise_against.split(",") if a.strip()],
        detector_options=detector_options,
        reference_timeout_s=args.reference_timeout,
        source_note=note,
        progress=_progress(),
    )
    result = run_matrix(graph, source, images, options)
    if args.json:
        return _finish_json(args, result, baseline)
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
    code = result.exit_code
    if baseline is not None:
        worse = compare_to_baseline(result.report, baseline)
        for line in worse:
            print(f"REGRESSION {line}")
        if worse:
            code = 1
    if args.report is not None:
        json_path, html_path = write_report(result, args.report)
        print(f"wrote {json_path} and {html_path}")
    if args.junit is not None:
        from faceport.verify.junit import write_junit

        print(f"wrote {write_junit(result, args.junit)}")
    return code


def _finish_json(args: argparse.Namespace, result: Any, baseline: dict | None) -> int:
    """``--json``: one JSON document on stdout (files written are listed in it)."""
    from faceport.verify.junit import summary_json, write_junit
    from faceport.verify.report import compare_to_baseline, write_report

    data = summary_json(result)
    code = result.exit_code
    if baseline is not None:
        data["regressions"] = compare_to_baseline(result.report, baseline)
        if data["regressions"]:
            code = data["exit_code"] = 1
    written = []
    if args.report is not None:
        written += [str(p) for p in write_report(result, args.report)]
    if args.junit is not None:
        written.append(str(write_junit(result, args.junit)))
    data["wrote"] = written
    print(json.dumps(data, indent=1, sort_keys=True))
    return int(code)


def _shipped(
    args: argparse.Namespace,
) -> tuple[Any, Path, str | None, dict[str, Any], Any] | None:
    """For a shipped file (``.onnx``/``.ort``/``.pt2``/``.pte``/``.pt``): (the source graph,
    the source, None, the options that run the file in its runtime, the artifact); ``None``
    for a source or converted model."""
    from faceport.converters import load_any
    from faceport.verify.artifacts import (
        SUFFIXES,
        ShippedDetector,
        check_artifact_source,
        locate_artifact_source,
        read_artifact,
    )

    if args.model.suffix.lower() not in SUFFIXES:
        return None
    if args.localise:
        raise FaceportError("--localise needs faceport's own graph: verify the source model")
    artifact = read_artifact(args.model)
    source = args.source
    if source is not None:
        check_artifact_source(artifact, source)
    else:
        source, why = locate_artifact_source(artifact)
        if source is None:
            raise FaceportError(why, file=str(args.model))
    graph = load_any(source, **reader_options(args))
    if artifact.whole_detector:
        options = {"detector": ShippedDetector(artifact), "raw_outputs": False}
    else:
        options = {"extra_runners": [artifact.runner()], "detections": False}
    return graph, source, None, options, artifact


def _progress() -> Callable[[int, int, str, str], None]:
    """One line per image on stderr, with the seconds since the run started."""
    import time

    start = time.perf_counter()

    def report(index: int, count: int, label: str, status: str) -> None:
        elapsed = time.perf_counter() - start
        print(f"[{index + 1}/{count}] {label}: {status} ({elapsed:.1f} s)", file=sys.stderr,
              flush=True)  # fmt: skip

    return report


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
