"""Generate ``docs/mxnet_ops.md``, the supported-op table, from the converter registry.

``python -m faceport.converters.mxnet.ops.table [PATH]`` (from the checkout root; PATH defaults
to ``docs/mxnet_ops.md``) rewrites the file; ``--check`` exits 1 when it is stale (a test runs
the same comparison).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from faceport.registry import table

#: where the table lives in a source checkout (relative to its root)
DOC = Path("docs") / "mxnet_ops.md"


def summary(fn: object) -> str:
    """The first paragraph of a converter's docstring, on one line."""
    doc = inspect.getdoc(fn) or ""
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split()).replace("|", "\\|")


def render() -> str:
    """The Markdown text of the table (one row per MXNet op name, aliases included)."""
    rows = [
        "# Supported MXNet ops",
        "",
        "Generated from the converter registry by `python -m faceport.converters.mxnet.ops.table`;",
        "do not edit by hand (a test checks it is current). Any other op is an",
        "`UnsupportedOpError` naming the op, the node and the symbol file.",
        "",
        "| MXNet op | converter | semantics (MXNet) |",
        "|---|---|---|",
    ]
    for op, fn in table("mxnet").items():
        module = fn.__module__.rsplit(".", 1)[-1]
        rows.append(f"| `{op}` | `{module}.{fn.__name__}` | {summary(fn)} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOC, help="the table to write")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        return 0 if current == text else 1
    from faceport.atomic import write_atomic

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomic(args.path, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
