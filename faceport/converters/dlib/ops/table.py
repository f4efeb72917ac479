"""Render the dlib converter registry as the markdown table in ``docs/dlib_layers.md``.

Regenerate with ``python -m faceport.converters.dlib.ops.table docs/dlib_layers.md``; a test
fails when the committed file differs from :func:`markdown_table`.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from faceport.registry import table

HEADER = """# dlib layers supported by faceport

Generated from the converter registry by `faceport/converters/dlib/ops/table.py`; do not
edit by hand. Each row gives the layer kind as dlib's `net_to_xml` names it, the converter
and the dlib semantics it reproduces (padding rule, rounding, eps). Loss layers are identity
heads; the last column then also says what dlib's `to_label` does with the raw output.

| dlib layer | converter | semantics |
|---|---|---|
"""


def _summary(fn: object) -> str:
    doc = inspect.getdoc(fn) or ""
    paragraph = doc.split("\n\n", 1)[0]
    return " ".join(paragraph.split()).replace("|", "\\|")


def markdown_table() -> str:
    """The whole ``docs/dlib_layers.md`` text, one row per registered dlib op, sorted."""
    from faceport.converters.dlib.ops.loss import LOSS_TO_LABEL

    rows = []
    for op, fn in table("dlib").items():
        where = f"`{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}`"
        text = _summary(fn)
        if op in LOSS_TO_LABEL:
            text = f"identity head; to_label: {LOSS_TO_LABEL[op]}"
        rows.append(f"| `{op}` | {where} | {text} |\n")
    return HEADER + "".join(rows)


def main(argv: list[str]) -> int:
    """Write the table to ``argv[0]`` atomically (stdout when no path is given)."""
    text = markdown_table()
    if not argv:
        sys.stdout.write(text)
        return 0
    from faceport.atomic import write_atomic

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomic(argv[0], write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
