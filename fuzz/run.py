"""Run one fuzz target under atheris (libFuzzer for Python), coverage-guided.

    python -m fuzz.run TARGET [--seconds N] [--runs N] [--corpus DIR] [--crashes DIR]
                              [--rss-mb 2048] [--timeout 2] [--stats FILE] [-- LIBFUZZER_FLAGS]

Seeds the corpus folder when it is empty (:mod:`fuzz.seeds`), then runs libFuzzer in a
child process with ``faceport`` (only) instrumented: new coverage goes to the corpus, a
crash (any exception but ``FaceportError``), timeout or out-of-memory input goes to the
crash folder as libFuzzer's ``crash-``/``timeout-``/``oom-<sha1>`` file. At the end it
prints libFuzzer's final stats and a one-line summary (executions, exec/s, peak RSS) and
exits with libFuzzer's status: 0 when nothing was found, non-zero otherwise.

The child is a separate process because libFuzzer ends it with ``exit()`` (no Python
cleanup runs, nothing after ``atheris.Fuzz()`` executes): the parent removes the scratch
folder the targets write to and reads the stats from the child's output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_NAMES = ("dlib_dat", "dlib_xml", "mxnet_params", "mxnet_symbol", "s3fd_pth",
                "s3fd_graph")
BUILD = Path("build/fuzz")
CHILD_FLAG = "--child"
_STAT = re.compile(r"^stat::(\w+):\s*(\d+)\s*$")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
SANE_LEN = 1 << 20  # libFuzzer's kMaxSaneLen: the -max_len it picks at most by itself
ARTIFACT_KINDS = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")


def _child(argv: list[str]) -> None:
    """In the child: instrument faceport, then hand over to libFuzzer (never returns)."""
    import atheris

    target, flags = argv[0], argv[1:]
    with atheris.instrument_imports(include=["faceport"]):
        from fuzz import targets
    targets.quiet()
    atheris.Setup([sys.argv[0], *flags], targets.TARGETS[target])
    atheris.Fuzz()


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.run", description="Fuzz one faceport reader with atheris.",
        epilog="Flags after -- go to libFuzzer unchanged (e.g. -- -max_len=65536).")
    parser.add_argument("target", choices=TARGET_NAMES)
    parser.add_argument("--seconds", type=int, default=60,
                        help="libFuzzer -max_total_time (0: no time limit; default 60)")
    parser.add_argument("--runs", type=int, default=-1,
                        help="libFuzzer -runs: stop after N executions (default: no limit)")
    parser.add_argument("--corpus", type=Path, help="default build/fuzz/TARGET/corpus")
    parser.add_argument("--crashes", type=Path, help="default build/fuzz/TARGET/crashes")
    parser.add_argument("--rss-mb", type=int, default=2048, help="libFuzzer -rss_limit_mb")
    parser.add_argument("--timeout", type=int, default=2,
                        help="libFuzzer -timeout: seconds one input may take (default 2)")
    parser.add_argument("--seed", type=int, help="libFuzzer -seed (default: random)")
    parser.add_argument("--stats", type=Path,
                        help="also write the summary as JSON here (default "
                             "build/fuzz/TARGET/stats.json when --corpus is the default)")
    args, extra = parser.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    unknown = [flag for flag in extra if not flag.startswith("-") or flag.startswith("--")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args, extra


def libfuzzer_flags(args: argparse.Namespace, corpus: Path, crashes: Path,
                    extra: list[str]) -> list[str]:
    flags = [
        f"-max_total_time={args.seconds}",
        f"-runs={args.runs}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-artifact_prefix={crashes}{os.sep}",
        "-print_final_stats=1",
    ]
    if args.seed is not None:
        flags.append(f"-seed={args.seed}")
    largest = max((p.stat().st_size for p in corpus.iterdir() if p.is_file()), default=0)
    if largest > SANE_LEN and not any(flag.startswith("-max_len=") for flag in extra):
        # libFuzzer caps an unset -max_len at 1 MiB and truncates longer corpus files to it:
        # s3fd_graph's full-size seed (9.4 MB) would lose its tensors' bytes
        flags.append(f"-max_len={largest}")
    return [*flags, *extra, str(corpus)]


def artifacts(crashes: Path) -> list[Path]:
    """The inputs libFuzzer saved in ``crashes`` (crash-, timeout-, oom-... files)."""
    if not crashes.is_dir():
        return []
    return sorted(p for p in crashes.iterdir() if p.name.startswith(ARTIFACT_KINDS))


def _stream(proc: subprocess.Popen[str], stats: dict[str, Any]) -> None:
    """Copy the child's output through, picking libFuzzer's stat:: lines out of it (and
    when fuzzing proper began: the INITED line, after the corpus was loaded and run)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stderr.write(line)
        if "inited_at" not in stats and "INITED" in line:
            stats["inited_at"] = time.monotonic()
        match = _STAT.match(line.strip())
        if match:
            stats[match.group(1)] = int(match.group(2))
        done = _DONE.search(line)
        if done:
            stats["done_runs"], stats["done_seconds"] = int(done.group(1)), int(done.group(2))


def run(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    default_corpus = args.corpus is None
    corpus = args.corpus or BUILD / args.target / "corpus"
    crashes = args.crashes or BUILD / args.target / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    seeded = 0
    if not any(corpus.iterdir()):
        from fuzz.seeds import write_seeds

        seeded = len(write_seeds(args.target, corpus))
    before = {p.name for p in artifacts(crashes)}
    corpus_before = sum(1 for _ in corpus.iterdir())
    scratch = Path(tempfile.mkdtemp(prefix=f"faceport-fuzz-{args.target}-"))
    env = dict(os.environ, FACEPORT_FUZZ_SCRATCH=str(scratch))
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "fuzz.run", CHILD_FLAG, args.target,
               *libfuzzer_flags(args, corpus, crashes, extra)]
    stats: dict[str, Any] = {}
    started = time.monotonic()
    try:
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
            try:
                _stream(proc, stats)
            except KeyboardInterrupt:
                proc.terminate()
                raise
            rc = proc.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ended = time.monotonic()
    wall = ended - started
    executions = stats.get("number_of_executed_units", stats.get("done_runs"))
    fuzz_seconds = ended - stats.get("inited_at", started)
    found = [str(p) for p in artifacts(crashes) if p.name not in before]
    if found and rc == 0:
        rc = 1  # an artifact without a failing status (never seen; be safe)
    summary: dict[str, Any] = {
        "target": args.target,
        "returncode": rc,
        "executions": executions,
        # libFuzzer's average_exec_per_sec divides by whole seconds (0 for a run under
        # 1 s): this one divides by the time since libFuzzer's INITED line
        "exec_per_sec": round(executions / fuzz_seconds) if executions and fuzz_seconds > 0
        else None,
        "libfuzzer_exec_per_sec": stats.get("average_exec_per_sec"),
        "peak_rss_mb": stats.get("peak_rss_mb"),
        "new_units": stats.get("new_units_added"),
        "corpus_files": sum(1 for _ in corpus.iterdir()),
        "corpus_files_before": corpus_before,
        "seeded": seeded,
        "wall_seconds": round(wall, 1),
        "seconds": args.seconds,
        "runs": args.runs,
        "artifacts": found,
        "corpus": str(corpus),
        "crashes": str(crashes),
    }
    stats_path = args.stats or (BUILD / args.target / "stats.json" if default_corpus else None)
    if stats_path is not None:
        stats_path.parent.mkdir(parents=True, exist_ok=True)
        stats_path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def summary_line(s: dict[str, Any]) -> str:
    verdict = "ok" if s["returncode"] == 0 else f"FAILED (exit {s['returncode']})"
    line = (f"fuzz {s['target']}: {s['executions']} executions, {s['exec_per_sec']} exec/s, "
            f"peak RSS {s['peak_rss_mb']} MB, corpus {s['corpus_files_before']} -> "
            f"{s['corpus_files']} files, {s['wall_seconds']} s: {verdict}")
    for path in s["artifacts"]:
        line += f"\n  saved input: {path}"
    return line


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == CHILD_FLAG:
        _child(argv[1:])
        return 0  # not reached: libFuzzer exits the process
    args, extra = parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris; it is in the dev extra)",
              file=sys.stderr)
        return 2
    summary = run(args, extra)
    print(summary_line(summary), flush=True)
    return int(summary["returncode"])


if __name__ == "__main__":
    sys.exit(main())
