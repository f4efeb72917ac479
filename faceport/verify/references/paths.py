"""Where the built reference tools and reference environments are: one resolver.

The references that are not Python packages of faceport's own environment are built by make
targets of a faceport source checkout: the dlib C++ dumper (``make dlib-ref`` ->
``build/dlib_ref/dlib_ref``) and the MXNet venv (``make reference-mxnet`` -> ``.venv-mxnet``).
Each is found, in order, at:

1. the environment variable naming it (``FACEPORT_DLIB_REF``, ``FACEPORT_MXNET_PYTHON``);
2. under ``FACEPORT_HOME`` (a faceport checkout where the targets were built: a wheel
   installed elsewhere points here);
3. in the checkout this package is imported from, when it is one (an editable install);
4. ``dlib_ref`` on ``PATH``.

When none has it, :class:`Built` says exactly what is missing and which make target builds it.
Nothing here reaches into ``tests/`` or ``tools/``: the MXNet server script is package data
(:data:`MXNET_SERVER`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "FACEPORT_HOME"
DLIB_REF_ENV = "FACEPORT_DLIB_REF"
MXNET_PYTHON_ENV = "FACEPORT_MXNET_PYTHON"
DLIB_REF_RELATIVE = Path("build/dlib_ref/dlib_ref")
MXNET_VENV_RELATIVE = Path(".venv-mxnet")
#: the JSON-lines server run by the MXNet venv's interpreter (imports only mxnet and numpy)
MXNET_SERVER = Path(__file__).resolve().with_name("mxnet_server.py")


@dataclass(frozen=True)
class Built:
    """A resolved tool: ``path`` when found, else ``missing`` (what to do)."""

    path: Path | None
    missing: str | None = None


def checkout() -> Path | None:
    """The source checkout this package is imported from, or ``None`` (installed wheel)."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "Makefile").is_file():
        return root
    return None


def _roots() -> list[Path]:
    roots = []
    home = os.environ.get(HOME_ENV)
    if home:
        roots.append(Path(home))
    found = checkout()
    if found is not None and found not in roots:
        roots.append(found)
    return roots


def _where_to_build(target: str) -> str:
    if checkout() is not None:
        return f"run `make {target}` in {checkout()}"
    return (f"run `make {target}` in a faceport source checkout and set {HOME_ENV} to that "
            "checkout")  # fmt: skip


def dlib_ref() -> Built:
    """The dlib C++ dumper (``tools/dlib_ref`` built against Debian's libdlib-dev)."""
    override = os.environ.get(DLIB_REF_ENV)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return Built(path)
        return Built(None, f"{DLIB_REF_ENV}={override} is not an executable file: point it at "
                           f"the built tool, or unset it and {_where_to_build('dlib-ref')}")
    for root in _roots():
        path = root / DLIB_REF_RELATIVE
        if path.is_file() and os.access(path, os.X_OK):
            return Built(path)
    on_path = shutil.which("dlib_ref")
    if on_path:
        return Built(Path(on_path))
    return Built(None, f"the dlib C++ reference tool is not built: {_where_to_build('dlib-ref')} "
                       f"(needs apt libdlib-dev), or set {DLIB_REF_ENV}")  # fmt: skip


def mxnet_python() -> Built:
    """The MXNet reference venv's interpreter (mxnet 1.9.1 with numpy < 1.24)."""
    override = os.environ.get(MXNET_PYTHON_ENV)
    if override:
        path = Path(override)
        if path.is_file():
            return Built(path)
        return Built(None, f"{MXNET_PYTHON_ENV}={override} does not exist: point it at a python "
                           f"with mxnet 1.9.1, or unset it and "
                           f"{_where_to_build('reference-mxnet')}")
    for root in _roots():
        venv = root / MXNET_VENV_RELATIVE
        python = venv / "bin" / "python"
        if python.is_file():
            if not (venv / ".installed").exists():
                what = f"{venv} is incomplete (mxnet did not install or import)"
                return Built(None, f"{what}: {_where_to_build('reference-mxnet')}, read its output")
            return Built(python)
    return Built(None, f"no MXNet reference venv: {_where_to_build('reference-mxnet')}, or set "
                       f"{MXNET_PYTHON_ENV} to a python with mxnet 1.9.1")  # fmt: skip
