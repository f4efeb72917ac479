"""Summarise the last run of every fuzz target from ``build/fuzz/<target>/stats.json``.

    python -m fuzz.report [DIR] [--markdown]

Prints one row per target (executions, exec/s, peak RSS, corpus growth, verdict) and
exits non-zero when a target's run failed (a crash, timeout or out-of-memory input).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fuzz.run import BUILD, TARGET_NAMES

COLUMNS = ("target", "executions", "exec/s", "peak RSS MB", "corpus files", "wall s", "result")


def _row(name: str, stats: dict[str, Any] | None) -> list[str]:
    if stats is None:
        return [name, "-", "-", "-", "-", "-", "not run"]
    verdict = "ok" if stats["returncode"] == 0 else f"FAILED ({stats['returncode']})"
    if stats.get("artifacts"):
        verdict += f": {len(stats['artifacts'])} input(s) saved in {stats['crashes']}"
    return [name, str(stats["executions"]), str(stats["exec_per_sec"]),
            str(stats["peak_rss_mb"]),
            f"{stats['corpus_files_before']} -> {stats['corpus_files']}",
            str(stats["wall_seconds"]), verdict]


def load(folder: Path) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for name in TARGET_NAMES:
        path = folder / name / "stats.json"
        out[name] = json.loads(path.read_text()) if path.is_file() else None
    return out


def render(rows: list[list[str]], markdown: bool) -> str:
    table = [list(COLUMNS), *rows]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in table]
        lines.insert(1, "|" + "|".join("---" for _ in COLUMNS) + "|")
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.report", description=__doc__)
    parser.add_argument("folder", nargs="?", type=Path, default=BUILD)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args(argv)
    runs = load(args.folder)
    print(render([_row(name, stats) for name, stats in runs.items()], args.markdown))
    failed = [name for name, stats in runs.items() if stats and stats["returncode"] != 0]
    if failed:
        print(f"fuzz: {len(failed)} target(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
