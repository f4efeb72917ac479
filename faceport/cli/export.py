"""Export a model to ONNX or TorchScript.

  faceport export MODEL --format onnx [--opset N] [--dynamic] [--fp16] -o model.onnx
  faceport export MODEL --format torchscript -o model.pt

ONNX files are checked (onnx.checker full_check), simplified (onnxsim, with its own numeric
check), carry deployment metadata, and are written atomically and deterministically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceport.cli.common import add_model_argument, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="symbolic batch/height/width (default on)",
    )
    parser.add_argument("--fp16", action="store_true", help="float16 weights and compute")
    parser.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript")
    parser.add_argument(
        "--method",
        choices=("auto", "script", "trace"),
        default="auto",
        help="TorchScript: script, trace, or script with trace fallback",
    )


def run(args: argparse.Namespace) -> int:
    graph = load_model(args)
    if args.format == "onnx":
        from faceport.exporters.onnx import export_onnx

        result = export_onnx(
            graph,
            args.output,
            opset=args.opset,
            dynamic=args.dynamic,
            fp16=args.fp16,
            simplify=not args.no_simplify,
            exporter=args.exporter,
        )
    else:
        from faceport.exporters.torchscript import export_torchscript

        result = export_torchscript(graph, args.output, method=args.method)  # type: ignore[assignment]
    print(f"wrote {result}")
    return 0
