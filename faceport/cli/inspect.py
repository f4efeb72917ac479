"""Show a model's graph: layers, parameter shapes, inputs/outputs, provenance and metadata."""

from __future__ import annotations

import argparse
import json

from faceport.cli.common import add_model_argument, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the IR structure as JSON")
    parser.add_argument("--brief", action="store_true", help="totals only, no layer table")


def run(args: argparse.Namespace) -> int:
    from faceport.cli.summary import print_summary

    graph = load_model(args)
    if args.json:
        print(json.dumps(graph.structure_json(), indent=1, sort_keys=True))
        return 0
    from faceport.kinds import info_of

    print_summary(graph, layers=not args.brief)
    print("info: " + json.dumps(info_of(graph).to_json(), sort_keys=True))
    meta = {k: v for k, v in graph.meta.items() if k != "source"}
    if meta:
        print("reader notes: " + json.dumps(meta, sort_keys=True))
    return 0
