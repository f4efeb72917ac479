"""The fuzzing harness (fuzz/): saved reproducers stay fixed, seeds are valid inputs, and a
short atheris run of every target finds nothing.

The smoke runs are bounded by ``--runs`` (and ``--seconds`` as a backstop) and use a fixed
libFuzzer seed, so they do the same work every time; each target takes a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from faceport.errors import FormatError
from faceport.ir import Graph
from fuzz import seeds
from fuzz.run import TARGET_NAMES, artifacts
from fuzz.targets import READERS, TARGETS

REPO = Path(__file__).resolve().parents[2]
REPRODUCERS = REPO / "fuzz" / "reproducers"
SMOKE_RUNS = 1500


def test_every_target_has_seeds_and_a_reader() -> None:
    assert set(TARGETS) == set(READERS) == set(seeds.SEEDS) == set(TARGET_NAMES)


#: seconds a reproducer may take (libFuzzer's -timeout in fuzz.run); a fixed reader takes ms
REPLAY_SECONDS = 2
#: a reproducer named open-* is an escape found and reported but not fixed yet: its replay
#: is expected to fail (strictly: once the reader is fixed, drop the prefix)
OPEN_PREFIX = "open-"


def test_reproducer_folders_exist() -> None:
    for target in TARGET_NAMES:
        assert (REPRODUCERS / target).is_dir(), f"fuzz/reproducers/{target}/ is missing"


def _reproducers() -> list[object]:
    cases: list[object] = []
    for target in TARGET_NAMES:
        folder = REPRODUCERS / target
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        for path in files:
            if not path.is_file() or path.name.startswith(".") or path.suffix == ".md":
                continue
            marks = [pytest.mark.xfail(strict=True, reason=f"open escape {target}/{path.name}: "
                                       "reported, reader not fixed yet")
                     ] if path.name.startswith(OPEN_PREFIX) else []
            cases.append(pytest.param(target, path, marks=marks, id=f"{target}/{path.name}"))
    return cases or [pytest.param(None, None, id="none", marks=pytest.mark.skip(
        reason="no reproducers saved yet (the folders are checked above)"))]


class ReplayTimeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise ReplayTimeout(f"took more than {REPLAY_SECONDS} s")


@pytest.mark.parametrize(("target", "path"), _reproducers())
def test_reproducer_raises_only_faceport_error(target: str, path: Path) -> None:
    """A saved input (a found escape, since fixed) through its target: sniff answers a bool,
    the reader raises FaceportError at most (the target swallows only that; anything else
    fails here with its traceback), within REPLAY_SECONDS."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, REPLAY_SECONDS)
    try:
        TARGETS[target](path.read_bytes())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


SEEDS = [(target, name, data) for target, make in seeds.SEEDS.items()
         for name, data in make().items()]


@pytest.mark.parametrize(("target", "name", "data"), SEEDS,
                         ids=[f"{t}-{n}" for t, n, _ in SEEDS])
def test_seed_is_a_valid_input(target: str, name: str, data: bytes) -> None:
    refused = seeds.REFUSED.get((target, name))
    if refused is not None:  # read in full, then refused by the S3FD key/shape mapping
        from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes

        assert isinstance(read_checkpoint_bytes(data).obj, dict)
        with pytest.raises(FormatError, match=refused):
            READERS[target](data)
        return
    result = READERS[target](data)
    assert result is not None
    if target in ("dlib_dat", "dlib_xml"):
        layers, meta = result
        assert layers and meta["format"] in ("dlib_dat", "net_to_xml")
        assert meta.get("trailing_bytes", 0) == 0
    elif target == "mxnet_params":
        assert result.arrays and result.size == len(data)
    elif target == "mxnet_symbol":
        assert result.nodes
    elif target == "s3fd_pth":
        assert isinstance(result.obj, dict) and result.obj
    elif target == "s3fd_graph":
        assert isinstance(result, Graph) and len(result.params) == 65
    TARGETS[target](data)


def test_seeds_are_small_but_the_full_s3fd_one() -> None:
    for target, name, data in SEEDS:
        limit = 10_000_000 if (target, name) == ("s3fd_graph", "full_half") else 16_384
        assert len(data) <= limit, (target, name, len(data))


def test_write_seeds(tmp_path: Path) -> None:
    paths = seeds.write_seeds("mxnet_symbol", tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{seeds.SEED_PREFIX}{n}" for n in seeds.mxnet_symbol_seeds())


def test_targets_let_other_exceptions_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    """A target swallows FaceportError only: anything else is what libFuzzer must see."""
    import fuzz.targets as targets

    def boom(data: bytes) -> None:
        raise ValueError("escape")

    monkeypatch.setitem(targets.READERS, "mxnet_params", boom)
    with pytest.raises(ValueError, match="escape"):
        targets._target("mxnet_params")(b"")


HAS_ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.skipif(not HAS_ATHERIS, reason="atheris is not installed (pip install '.[dev]')")
@pytest.mark.parametrize("target", TARGET_NAMES)
def test_smoke_fuzz_run(target: str, tmp_path: Path) -> None:
    corpus, crashes = tmp_path / "corpus", tmp_path / "crashes"
    command = [sys.executable, "-m", "fuzz.run", target, "--runs", str(SMOKE_RUNS),
               "--seconds", "20", "--seed", "1", "--timeout", "10", "--corpus", str(corpus),
               "--crashes", str(crashes), "--stats", str(tmp_path / "stats.json")]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert artifacts(crashes) == [] and not any(crashes.iterdir()), output[-4000:]
    assert any(p.name.startswith(seeds.SEED_PREFIX) for p in corpus.iterdir())
    assert f"fuzz {target}: " in proc.stdout and "executions" in proc.stdout
