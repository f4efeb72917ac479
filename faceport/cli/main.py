"""faceport: convert pretrained face networks to verified PyTorch, ONNX and TorchScript.

Commands: convert, inspect, detect, verify, export, quantize (`faceport <command> --help`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from faceport import __version__
from faceport.errors import FaceportError

COMMANDS = ("convert", "inspect", "detect", "verify", "export", "quantize")


class Parser(argparse.ArgumentParser):
    """argparse with faceport's error contract: one ``faceport <cmd>: error: ...`` line and
    exit 2 (argparse's default prints the whole usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="faceport", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"faceport {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name in COMMANDS:
        module = importlib.import_module(f"faceport.cli.{name}")
        doc = (module.__doc__ or "").strip()
        command = sub.add_parser(
            name,
            help=doc.splitlines()[0] if doc else name,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 check failed, 2 error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already reported
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args))
    except FaceportError as exc:
        print(f"faceport {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"faceport {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # our bug, or a library's: one line, the traceback only with -v
        logging.getLogger("faceport.cli").debug("traceback", exc_info=True)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        hint = "" if args.verbose else " (run with -v for the traceback)"
        print(f"faceport {args.command}: error: internal error: {type(exc).__name__}: "
              f"{first}{hint}", file=sys.stderr)  # fmt: skip
        return 2
