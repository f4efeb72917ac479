"""The MXNet reference runner: a checkpoint run by real MXNet in its own venv.

MXNet 1.9 needs numpy < 1.24 and so cannot share faceport's venv; ``make reference-mxnet``
builds ``.venv-mxnet`` (found by :func:`faceport.verify.references.paths.mxnet_python`). This
runner talks to :mod:`faceport.verify.references.mxnet_server` (package data) running there, a
JSON-lines server, exchanging arrays through ``.npz`` files in a temporary folder. One server
process is shared by every runner of this Python process (importing MXNet costs seconds), and
it keeps bound executors cached, so a test module pays the import once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import selectors
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceport.backends.base import Feed, Outputs, Runner, RunnerUnavailable
from faceport.errors import FaceportError
from faceport.verify.references import paths

log = logging.getLogger(__name__)

SCRIPT = paths.MXNET_SERVER
DEFAULT_TIMEOUT_S = 300.0
_STARTUP_TIMEOUT_S = 120.0


def save_npz(path: Path, arrays: Feed) -> None:
    """An ``.npz`` with arbitrary array names (``np.savez(**arrays)`` would take ``file``
    as its own argument)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(
                    member, np.ascontiguousarray(value), allow_pickle=False
                )


class MXNetRunError(FaceportError):
    """MXNet itself failed (bad symbol, shape error, crash); the message has its stderr tail."""


def venv_python() -> Path:
    """The reference venv's interpreter (see :func:`paths.mxnet_python`)."""
    found = paths.mxnet_python()
    if found.path is None:
        raise RunnerUnavailable(found.missing or "no MXNet reference venv")
    return found.path


def why_mxnet_unavailable() -> str | None:
    """``None`` when the MXNet reference can run, else what is missing and how to get it."""
    if not SCRIPT.is_file():
        return f"the MXNet server {SCRIPT} is missing from this installation"
    return paths.mxnet_python().missing


class MXNetServer:
    """One ``run.py`` subprocess: send a request, wait (with a timeout) for its answer."""

    def __init__(self, python: Path | None = None) -> None:
        self.python = python or venv_python()
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: int | None = None  # fd of an unlinked temporary file
        self._buffer = ""
        self._next_id = 0
        self.version = ""

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.alive:
            return
        self.close()
        fd, name = tempfile.mkstemp(prefix="faceport-mxnet-", suffix=".stderr")
        os.unlink(name)  # anonymous: gone when closed
        self._stderr = fd
        env = dict(os.environ, PYTHONUNBUFFERED="1", MXNET_ENGINE_TYPE="NaiveEngine")
        env.setdefault("OMP_NUM_THREADS", "2")
        self._proc = subprocess.Popen(
            [str(self.python), str(SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        hello = self._read_line(_STARTUP_TIMEOUT_S, "starting MXNet")
        self.version = str(hello.get("mxnet", ""))
        log.info("MXNet %s reference server started (pid %d)", self.version, self._proc.pid)

    def stderr_tail(self, limit: int = 3000) -> str:
        if self._stderr is None:
            return ""
        size = os.fstat(self._stderr).st_size
        return os.pread(self._stderr, limit, max(0, size - limit)).decode("utf-8", "replace")

    def _fail(self, what: str) -> MXNetRunError:
        tail = self.stderr_tail()
        self.close(kill=True)
        return MXNetRunError(f"MXNet reference {what}; its stderr ends with:\n{tail}")

    def _read_line(self, timeout: float, what: str) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        stream = self._proc.stdout
        with selectors.DefaultSelector() as sel:
            sel.register(stream, selectors.EVENT_READ)
            while "\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._fail(f"timed out after {timeout:g} s {what}")
                if not sel.select(left):
                    continue
                chunk = os.read(stream.fileno(), 65536).decode("utf-8", "replace")
                if not chunk:
                    code = self._proc.wait(timeout=5)
                    raise self._fail(f"exited with status {code} while {what}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise self._fail(f"answered a non-JSON line {line[:200]!r} while {what}") from None
        if not isinstance(answer, dict):
            raise self._fail(f"answered {line[:200]!r} while {what}")
        return answer

    def request(self, payload: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
        """Send one request; return the output names written to ``payload['result']``."""
        self.send(payload)
        return self.receive(payload, timeout)

    def send(self, payload: dict[str, Any]) -> None:
        """Queue one request without waiting (answers come back in order: :meth:`receive`)."""
        self.start()
        assert self._proc is not None and self._proc.stdin is not None
        self._next_id += 1
        payload = dict(payload, id=self._next_id)
        try:
            self._proc.stdin.write(json.dumps(payload) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._fail("died before it got a request") from None

    def receive(self, payload: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
        """Wait for the answer to the oldest unanswered request (``payload`` names it)."""
        if self._proc is None:
            raise MXNetRunError("MXNet reference server is not running")
        answer = self._read_line(timeout, f"running {Path(payload['symbol']).name}")
        if not answer.get("ok"):
            raise MXNetRunError(
                f"MXNet failed on {payload['symbol']}:\n{answer.get('error', '')}"
                f"\nMXNet stderr tail:\n{self.stderr_tail(1500)}"
            )
        return [str(n) for n in answer.get("outputs", [])]

    def close(self, *, kill: bool = False) -> None:
        """End the server: EOF on its stdin and a wait, or at once with ``kill``."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if kill and proc.poll() is None:
                proc.kill()
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            os.close(self._stderr)
            self._stderr = None
        self._buffer = ""


_SHARED: MXNetServer | None = None


def shared_server() -> MXNetServer:
    """The process-wide server (started on first use, closed at interpreter exit)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = MXNetServer()
        atexit.register(_SHARED.close)
    return _SHARED


class MXNetRunner(Runner):
    """Run ``symbol_json`` + ``params`` with MXNet (CPU, inference mode).

    ``outputs`` defaults to the symbol's outputs, named as MXNet lists them without the
    ``_output`` suffix; it may name internal nodes (``conv0``, ``relu1_output``) to tap
    intermediate tensors for per-node localisation. Outputs come back float32 (or the
    node's own dtype) numpy arrays keyed by the requested names.
    """

    def __init__(
        self,
        symbol_json: str | os.PathLike[str],
        params: str | os.PathLike[str] | None,
        *,
        outputs: Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        server: MXNetServer | None = None,
        name: str = "mxnet-cpu",
    ) -> None:
        super().__init__()
        self.symbol_json = Path(symbol_json).resolve()
        self.params = None if params is None else Path(params).resolve()
        self.output_names = None if outputs is None else list(outputs)
        self.timeout = timeout
        self.name = name
        self._server = server
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def why_unavailable(self) -> str | None:
        return why_mxnet_unavailable()

    def activate(self) -> None:
        if self._server is None:
            self._server = shared_server()
        self._server.start()
        self._tmp = tempfile.TemporaryDirectory(prefix="faceport-mxnet-")

    def run(self, feed: Feed) -> Outputs:
        # Sequential on purpose: overlapping MXNet's OpenMP threads with torch's on a small
        # machine was measured 1.6x slower than taking turns.
        if self._server is None or self._tmp is None:
            raise RunnerUnavailable(f"runner {self.name!r} is not active")
        folder = Path(self._tmp.name)
        inputs, result = folder / "inputs.npz", folder / "result.npz"
        save_npz(inputs, feed)
        result.unlink(missing_ok=True)
        payload = {
            "symbol": str(self.symbol_json),
            "params": "" if self.params is None else str(self.params),
            "inputs": str(inputs),
            "result": str(result),
            "outputs": self.output_names,
        }
        names = self._server.request(payload, self.timeout)
        with np.load(result, allow_pickle=False) as data:
            return {name: np.array(data[name]) for name in names}

    def deactivate(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
