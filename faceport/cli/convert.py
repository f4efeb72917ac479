"""Convert a source model to faceport's pickle-free format (.safetensors: IR + weights).

Prints a layer/parameter summary. Example:
  faceport convert mmod_human_face_detector.dat -o mmod.safetensors
  faceport convert R50-symbol.json --epoch 0 -o r50.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceport.cli.common import add_model_argument, load_model, output_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no layer table")


def run(args: argparse.Namespace) -> int:
    from faceport import serialize
    from faceport.cli.summary import print_summary

    out = output_file(args.output, (serialize.SUFFIX,), "converted model (-o)")
    graph = load_model(args)
    serialize.save(graph, out)
    print_summary(graph, layers=not args.quiet)
    print(f"wrote {out}")
    return 0
