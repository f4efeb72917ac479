"""Export a model to ONNX or TorchScript.

  faceport export MODEL --format onnx [--opset N] [--dynamic] [--fp16] -o model.onnx
  faceport export MODEL --format onnx --with-postprocess [--fp16] -o detector.onnx
  faceport export MODEL --format torchscript -o model.pt
  faceport export MODEL --optimize ...   (speed passes first: faceport.passes)

ONNX files are checked (onnx.checker full_check), simplified (onnxsim, with its own numeric
check), carry deployment metadata, and are written atomically and deterministically.
``--with-postprocess`` exports the whole detector (uint8 image in; boxes, scores[, landmarks]
out; NMS in the graph). ``--mobile-check`` prints onnxruntime's mobile usability summary,
``--ort`` also writes the ORT-format file beside the output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceport.cli.common import add_model_argument, load_model, output_file
from faceport.errors import FaceportError

DEFAULT_OPSET = 17
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pts", ".torchscript")}
#: options that only the ONNX form honours
_ONNX_ONLY = ("--opset", "--dynamic/--no-dynamic", "--fp16", "--fp16-io", "--with-postprocess",
              "--mobile-check", "--ort", "--no-simplify", "--exporter")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--opset", type=int, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="symbolic batch/height/width (default on)",
    )
    parser.add_argument("--fp16", action="store_true", help="float16 weights and compute")
    parser.add_argument("--fp16-io", action="store_true", help="with --fp16: float16 I/O too")
    parser.add_argument(
        "--with-postprocess",
        action="store_true",
        help="whole detector: image in, decoded and NMS-ed detections out (ONNX only)",
    )
    parser.add_argument(
        "--optimize",
        action="store_true",
        help="apply faceport.passes first (fold norms into convolutions, pad channels for "
        "NCHWc kernels): faster, equal up to float summation order; recorded as faceport.passes",
    )
    parser.add_argument("--mobile-check", action="store_true", help="ORT mobile usability")
    parser.add_argument("--ort", action="store_true", help="also write <output>.ort (ORT format)")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"),
                        help="ONNX exporter (default torchscript)")  # fmt: skip
    parser.add_argument(
        "--method",
        choices=("auto", "script", "trace"),
        help="TorchScript: script, trace, or script with trace fallback (default auto)",
    )


def _set(args: argparse.Namespace) -> dict[str, bool]:
    """Which form-specific options the user gave."""
    return {
        "--opset": args.opset is not None, "--dynamic/--no-dynamic": args.dynamic is not None,
        "--fp16": args.fp16, "--fp16-io": args.fp16_io,
        "--with-postprocess": args.with_postprocess, "--mobile-check": args.mobile_check,
        "--ort": args.ort, "--no-simplify": args.no_simplify,
        "--exporter": args.exporter is not None, "--method": args.method is not None,
    }  # fmt: skip


def check_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen form would ignore (nothing is dropped silently)."""
    given = [name for name, on in _set(args).items() if on]
    if args.format == "torchscript":
        bad = [n for n in given if n in _ONNX_ONLY]
        if bad:
            raise FaceportError(f"{', '.join(bad)}: ONNX options, not for --format torchscript")
    elif "--method" in given:
        raise FaceportError("--method is a TorchScript option (--format torchscript)")
    if args.fp16_io and not args.fp16:
        raise FaceportError("--fp16-io needs --fp16")
    if args.with_postprocess:
        if args.dynamic is False:
            raise FaceportError("the whole detector is exported with dynamic H and W only; "
                                "--no-dynamic is not supported with --with-postprocess")
        if args.fp16_io:
            raise FaceportError("the whole detector takes a uint8 image: --fp16-io does not apply")
        if args.exporter == "dynamo":
            raise FaceportError("the whole detector's NMS needs the TorchScript exporter: "
                                "--exporter dynamo is not supported with --with-postprocess")


def run(args: argparse.Namespace) -> int:
    check_options(args)
    output_file(args.output, SUFFIXES[args.format], f"{args.format} output (-o)")
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    graph = load_model(args)
    if args.optimize:
        from dataclasses import replace

        from faceport.passes import optimize

        graph, applied = optimize(graph)
        graph = replace(graph, meta={**graph.meta, "passes": applied})
        print(f"passes applied: {', '.join(applied) or 'none'}")
    if args.format == "torchscript":
        from faceport.exporters.torchscript import export_torchscript

        method = args.method or "auto"
        print(f"wrote {export_torchscript(graph, args.output, method=method)}")
        return 0
    if args.with_postprocess:
        from faceport.exporters.detector import export_detector

        result = export_detector(
            graph, args.output, opset=opset, fp16=args.fp16, simplify=not args.no_simplify
        )
    else:
        from faceport.exporters.onnx import export_onnx

        result = export_onnx(
            graph,
            args.output,
            opset=opset,
            dynamic=args.dynamic is not False,
            fp16=args.fp16,
            fp16_io=args.fp16_io,
            simplify=not args.no_simplify,
            exporter=args.exporter or "torchscript",
        )
    print(f"wrote {result}")
    for note in result.notes:
        print(f"note: {note}")
    if args.mobile_check:
        from faceport.exporters.ort_tools import mobile_check

        print(mobile_check(result.path))
    if args.ort:
        from faceport.exporters.ort_tools import convert_to_ort

        print(f"wrote {convert_to_ort(result.path)}")
    return 0
