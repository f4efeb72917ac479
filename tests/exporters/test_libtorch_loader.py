"""A faceport TorchScript file runs in C++ libtorch (tools/libtorch_loader) and gives what
eager torch gives: the deployment path without Python."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.exporters.export_cases import graph_for

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "libtorch_loader" / "build.py"


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("libtorch_loader_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def loader() -> Path:
    """The compiled loader (cached in build/libtorch_loader/ by source hash and torch
    version), or a skip that quotes why it cannot be built here (no compiler, no headers or
    libraries in the wheel). A compiler error is a failure, not a skip."""
    build = _build_module()
    try:
        path, seconds = build.build()
    except build.BuildUnavailable as exc:
        pytest.skip(f"libtorch loader cannot be built: {exc}")
    print(f"libtorch loader {path} ({f'compiled in {seconds:.1f} s' if seconds else 'cached'})")
    return Path(path)


@pytest.fixture(scope="module")
def dlib_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceport.exporters.torchscript import export_torchscript

    path = tmp_path_factory.mktemp("libtorch") / "mmod.pt"
    return export_torchscript(graph_for("dlib"), path).path


def run_loader(loader: Path, model: Path, x: np.ndarray, tmp: Path) -> list[np.ndarray]:
    (tmp / "x.f32").write_bytes(x.astype("<f4").tobytes())
    proc = subprocess.run(
        [str(loader), str(model), str(tmp / "x.f32"), *map(str, x.shape), str(tmp / "y")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shapes = (tmp / "y.shapes.txt").read_text().splitlines()
    return [
        np.fromfile(tmp / f"y.{i}.f32", dtype="<f4").reshape([int(d) for d in line.split()])
        for i, line in enumerate(shapes)
    ]


def test_libtorch_runs_the_torchscript_export_like_eager(
    loader: Path, dlib_script: Path, tmp_path: Path
) -> None:
    from faceport.lower import lower

    x = np.random.default_rng(3).uniform(-0.5, 0.5, (1, 3, 150, 203)).astype(np.float32)
    (got,) = run_loader(loader, dlib_script, x, tmp_path)
    with torch.no_grad():
        ref = lower(graph_for("dlib"))(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape
    err = float(np.abs(got - ref).max())
    print(f"libtorch vs eager: shape {got.shape}, max-abs {err:.3g}")
    assert err <= 1e-6


def test_libtorch_loader_rejects_a_short_input(
    loader: Path, dlib_script: Path, tmp_path: Path
) -> None:
    (tmp_path / "x.f32").write_bytes(b"\0" * 100)
    proc = subprocess.run(
        [str(loader), str(dlib_script), str(tmp_path / "x.f32"), "1", "3", "8", "8",
         str(tmp_path / "y")], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "expected 768 bytes" in proc.stderr and "found 100" in proc.stderr
    assert not (tmp_path / "y.shapes.txt").exists()
