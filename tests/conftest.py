"""Shared test fixtures: paths to ../shared/fixtures and PyPI-packaged real models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "fixtures"
#: ExecuTorch as `make test` installs it (mk/executorch.mk: --no-deps, outside .venv)
EXECUTORCH = REPO / "build" / "executorch"
if (EXECUTORCH / ".done").is_file() and str(EXECUTORCH) not in sys.path:
    sys.path.append(str(EXECUTORCH))


def shared_fixture(relative: str) -> Path:
    """Path of a file in ../shared/fixtures, or skip the test saying it is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared fixture {relative} absent (expected at {path})")
    return path


def face_recognition_models_dir() -> Path:
    """The models/ folder of the PyPI package face_recognition_models (not imported:
    importing it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        pytest.skip("face_recognition_models is not installed (pip install '.[dev]')")
    return Path(spec.origin).parent / "models"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"../shared/fixtures absent (expected at {SHARED})")
    return SHARED
