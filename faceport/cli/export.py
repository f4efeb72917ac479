"""Export a model to ONNX or TorchScript.

  faceport export MODEL [--opset N] [--input-size WxH] [--batch N] [--fp16] -o model.onnx
  faceport export MODEL --with-postprocess [--input-size WxH] [--fp16] -o detector.onnx
  faceport export MMOD.dat --with-postprocess --input-size 640x480 [--upsample 1] -o det.onnx
  faceport export MODEL --format torchscript -o model.pt
  faceport export MODEL --format pt2 [--input-size WxH] -o model.pt2   (torch.export)
  faceport export MODEL --format pte --input-size WxH -o model.pte     (ExecuTorch XNNPACK)
  faceport export MODEL --optimize ...   (speed passes first: faceport.passes)

ONNX files are checked (onnx.checker full_check), simplified (onnxsim, with its own numeric
check), carry deployment metadata, and are written atomically and deterministically.
``--with-postprocess`` exports the whole detector (uint8 image in; boxes, scores[, landmarks]
out; NMS in the graph). ``--input-size WxH`` fixes the image size (``--batch N`` the batch
of a plain network); dynamic is the default where the form allows it: the dlib MMOD whole
detector is always built for one size (its pyramid layout depends on it), with
``--upsample N`` (dlib's ``upsample_num_times``) as part of that size.
``--mobile-check`` prints onnxruntime's mobile usability summary,
``--ort`` also writes the ORT-format file beside the output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceport.cli.common import add_model_argument, load_model, output_file
from faceport.errors import FaceportError

DEFAULT_OPSET = 17
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".pts", ".torchscript"),
            "pt2": (".pt2",), "pte": (".pte",)}  # fmt: skip
#: options the torch.export / ExecuTorch forms honour besides the common ones
_PT2_TAKES = ("--input-size", "--batch", "--dynamic/--no-dynamic")
_PTE_TAKES = ("--input-size", "--batch")
#: options that only the ONNX form honours
_ONNX_ONLY = ("--opset", "--dynamic/--no-dynamic", "--fp16", "--fp16-io", "--with-postprocess",
              "--mobile-check", "--ort", "--no-simplify", "--exporter", "--input-size",
              "--batch", "--upsample", "--max-candidates", "--input-order",
              "--ort-style")  # fmt: skip
#: whole-detector options (the dlib MMOD export's EXTRAS and the image contract)
_DETECTOR_ONLY = ("--upsample", "--max-candidates", "--input-order")


def input_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (H, W), both >= 1."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected WxH with positive integers (e.g. 640x480), "
                                         f"got {text!r}")  # fmt: skip
    return int(parts[1]), int(parts[0])


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def natural(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--format", choices=("onnx", "torchscript", "pt2", "pte"),
                        default="onnx", help="onnx, torchscript (legacy), pt2 (torch.export "
                        "ExportedProgram) or pte (ExecuTorch, XNNPACK delegate)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--opset", type=int, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument(
        "--dynamic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="symbolic batch/height/width (default on)",
    )
    parser.add_argument("--input-size", type=input_size, metavar="WxH",
                        help="fixed image width x height (default: dynamic where possible)")
    parser.add_argument("--batch", type=positive, metavar="N",
                        help="fixed batch of a plain network (default: dynamic)")
    parser.add_argument("--upsample", type=natural, metavar="N",
                        help="dlib MMOD whole detector: upsample_num_times (default 0)")
    parser.add_argument("--max-candidates", type=positive, metavar="N",
                        help="dlib MMOD whole detector: cap on NMS candidates (default 1000)")
    parser.add_argument("--input-order", choices=("rgb", "bgr"),
                        help="whole detector: channel order of the uint8 image (default rgb)")
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
    parser.add_argument("--ort-style", choices=("fixed", "runtime"),
                        help="with --ort: optimisation style (default: runtime for --fp16, "
                        "else fixed; NNAPI/CoreML need runtime)")
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
        "--ort-style": args.ort_style is not None,
        "--exporter": args.exporter is not None, "--method": args.method is not None,
        "--input-size": args.input_size is not None, "--batch": args.batch is not None,
        "--upsample": args.upsample is not None,
        "--max-candidates": args.max_candidates is not None,
        "--input-order": args.input_order is not None,
    }  # fmt: skip


def check_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen form would ignore (nothing is dropped silently)."""
    given = [name for name, on in _set(args).items() if on]
    if args.format in ("torchscript", "pt2", "pte"):
        takes = {"pt2": _PT2_TAKES, "pte": _PTE_TAKES}.get(args.format, ())
        bad = [n for n in given if n in _ONNX_ONLY and n not in takes]
        if bad:
            raise FaceportError(f"{', '.join(bad)}: ONNX options, not for --format {args.format}")
    if args.format != "torchscript" and "--method" in given:
        raise FaceportError("--method is a TorchScript option (--format torchscript)")
    if args.fp16_io and not args.fp16:
        raise FaceportError("--fp16-io needs --fp16")
    if args.ort_style is not None and not args.ort:
        raise FaceportError("--ort-style needs --ort")
    if args.ort_style == "fixed" and args.fp16:
        raise FaceportError("--ort-style fixed would store the --fp16 weights as float32 (the CPU "
                            "EP's casts are folded in): use --ort-style runtime")  # fmt: skip
    if args.input_size is not None and args.dynamic:
        raise FaceportError("--input-size fixes the image size: it contradicts --dynamic")
    if args.dynamic is False and args.input_size is None:
        raise FaceportError("--no-dynamic needs the size to fix: give --input-size WxH")
    if not args.with_postprocess:
        bad = [n for n in _DETECTOR_ONLY if n in given]
        if bad:
            raise FaceportError(f"{', '.join(bad)}: whole-detector options (--with-postprocess)")
    else:
        if args.batch is not None:
            raise FaceportError("the whole detector takes one image per call: --batch applies "
                                "to plain networks only")  # fmt: skip
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
    if args.format == "pt2":
        from faceport.exporters.torch_export import export_pt2

        program = export_pt2(graph, args.output, size=args.input_size, batch=args.batch,
                             dynamic=args.dynamic is not False)  # fmt: skip
        print(f"wrote {program}")
        return 0
    if args.format == "pte":
        from faceport.exporters.executorch import export_pte

        pte = export_pte(graph, args.output, size=args.input_size, batch=args.batch)
        print(f"wrote {pte}\nwrote {pte.path}.json (what was exported: a .pte has no metadata)")
        return 0
    if args.with_postprocess:
        from faceport.exporters.detector import export_detector

        extras = {k: v for k, v in (("upsample", args.upsample),
                                    ("max_candidates", args.max_candidates)) if v is not None}
        result = export_detector(
            graph, args.output, opset=opset, fp16=args.fp16, simplify=not args.no_simplify,
            size=args.input_size, input_order=(args.input_order or "rgb").upper(), **extras,
        )  # fmt: skip
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
            size=args.input_size,
            batch=args.batch,
        )
    print(f"wrote {result}")
    for note in result.notes:
        print(f"note: {note}")
    if args.mobile_check:
        from faceport.exporters.ort_tools import mobile_check

        print(mobile_check(result.path))
    if args.ort:
        from faceport.exporters.ort_tools import convert_to_ort

        print(f"wrote {convert_to_ort(result.path, style=args.ort_style)}")
    return 0
