"""MXNet-generated fixtures for the parity tests, made on demand and cached in build/.

``fixtures()`` runs ``tools/mxnet_ref/make_fixtures.py`` inside ``.venv-mxnet`` when
``build/mxnet_fixtures/manifest.json`` is missing or was written by other generator sources
(its ``source_hash``), then returns the manifest. Tests that need it skip, with the reason,
when the reference venv is absent.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.verify.references.mxnet_venv import venv_python, why_mxnet_unavailable
from tests.conftest import REPO

TOOLS = REPO / "tools" / "mxnet_ref"
OUT = REPO / "build" / "mxnet_fixtures"


def source_hash() -> str:
    """Same digest as make_fixtures.source_hash(): every *.py of tools/mxnet_ref."""
    digest = hashlib.sha256()
    for path in sorted(TOOLS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT.parent / "mxnet_fixtures.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _current() -> dict[str, Any] | None:
    path = OUT / "manifest.json"
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest if manifest.get("source_hash") == source_hash() else None


@functools.cache
def fixtures() -> dict[str, Any]:
    """The manifest (generating the fixtures first if needed)."""
    reason = why_mxnet_unavailable()
    if reason is not None:
        pytest.skip(f"MXNet reference unavailable: {reason}")
    with _lock():
        manifest = _current()
        if manifest is None:
            done = subprocess.run(
                [str(venv_python()), str(TOOLS / "make_fixtures.py"), "--out", str(OUT)],
                capture_output=True, text=True, timeout=600, check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"make_fixtures.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
            manifest = _current()
            if manifest is None:
                pytest.fail("make_fixtures.py ran but wrote no current manifest")
    return manifest


def cases(kind: str) -> list[dict[str, Any]]:
    return [c for c in fixtures()["cases"] if c["kind"] == kind]


def path(case: dict[str, Any], key: str) -> Path:
    return OUT / case["folder"] / case[key]


def load_npz(case: dict[str, Any], name: str) -> dict[str, np.ndarray]:
    with np.load(OUT / case["folder"] / name, allow_pickle=False) as data:
        return {k: np.array(data[k]) for k in data.files}
