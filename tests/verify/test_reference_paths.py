"""The one resolver for built reference tools: found where make put them, else a clear reason
naming the make target (also in an installed wheel, where there is no checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceport.verify.references import paths


@pytest.fixture
def no_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a wheel installed outside the repository, with nothing configured."""
    monkeypatch.setattr(paths, "checkout", lambda: None)
    for name in (paths.HOME_ENV, paths.DLIB_REF_ENV, paths.MXNET_PYTHON_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")


def test_outside_a_checkout_the_reasons_name_the_make_targets(no_checkout: None) -> None:
    dlib, mxnet = paths.dlib_ref(), paths.mxnet_python()
    assert dlib.path is None and mxnet.path is None
    assert "make dlib-ref" in (dlib.missing or "") and paths.HOME_ENV in (dlib.missing or "")
    assert "make reference-mxnet" in (mxnet.missing or "")
    assert paths.MXNET_SERVER.is_file()  # package data, not a file of tools/


def test_faceport_home_points_at_a_built_checkout(
    no_checkout: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tool = tmp_path / paths.DLIB_REF_RELATIVE
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    venv = tmp_path / paths.MXNET_VENV_RELATIVE
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    assert paths.dlib_ref().path == tool
    incomplete = paths.mxnet_python()
    assert incomplete.path is None and "incomplete" in (incomplete.missing or "")
    (venv / ".installed").write_text("")
    assert paths.mxnet_python().path == venv / "bin" / "python"


def test_an_override_that_is_wrong_says_so(
    no_checkout: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(paths.DLIB_REF_ENV, str(tmp_path / "missing"))
    reason = paths.dlib_ref().missing or ""
    assert paths.DLIB_REF_ENV in reason and "make dlib-ref" in reason
