"""Exports are atomic (killed or failed: no target file); TorchScript reloads in a fresh
process and matches eager; the CLI writes what the Python functions write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.exporters.export_cases import FAMILIES, graph_for, source_path

REPO = Path(__file__).resolve().parents[2]

_SLOW_EXPORT = """
import sys, time, pathlib
import faceport.exporters.onnx_finish as finish
from faceport.converters import convert
def stall(path):  # the temp file is written: say so, then hang until killed
    pathlib.Path(sys.argv[3]).write_text(str(path))
    time.sleep(120)
finish.check_file = stall
from faceport.exporters.onnx import export_onnx
export_onnx(convert(sys.argv[1]), sys.argv[2])
"""


def test_killed_export_leaves_no_target(tmp_path: Path) -> None:
    target, marker = tmp_path / "out" / "model.onnx", tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_EXPORT, str(source_path("dlib")), str(target), str(marker)],
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the export never reached its final write"
        partial = Path(marker.read_text())
        assert partial.parent == target.parent and partial.stat().st_size > 0
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()


def test_failed_check_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from faceport.errors import ExportError
    from faceport.exporters import onnx_finish
    from faceport.exporters.onnx import export_onnx

    def broken(path: Path) -> None:
        raise ValueError("simulated corrupt file")

    monkeypatch.setattr(onnx_finish, "check_file", broken)
    with pytest.raises(ExportError, match="simulated corrupt file"):
        export_onnx(graph_for("dlib"), tmp_path / "model.onnx", simplify=False)
    assert list(tmp_path.iterdir()) == []


_RELOAD = """
import sys, numpy as np, torch
for model, x, y in zip(*[iter(sys.argv[1:])] * 3):
    module = torch.jit.load(model, map_location="cpu")
    with torch.no_grad():
        out = module(torch.from_numpy(np.load(x)))
    out = out if isinstance(out, tuple) else (out,)
    np.savez(y, *[o.numpy() for o in out])
"""


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every family exported to TorchScript, then all reloaded and run in ONE fresh
    interpreter (one torch import instead of three): name -> (export, input, outputs)."""
    from faceport.exporters.torchscript import export_torchscript

    tmp = tmp_path_factory.mktemp("torchscript")
    x = np.random.default_rng(1).standard_normal((1, 3, 120, 168)).astype(np.float32)
    np.save(tmp / "x.npy", x)
    exports = {name: export_torchscript(graph_for(name), tmp / f"{name}.pt") for name in FAMILIES}
    args = [str(a) for name in FAMILIES for a in (exports[name].path, tmp / "x.npy",
                                                  tmp / f"{name}.npz")]  # fmt: skip
    subprocess.run([sys.executable, "-I", "-c", _RELOAD, *args], check=True, timeout=300)
    return {name: (exports[name], x, np.load(tmp / f"{name}.npz")) for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_torchscript_reloads_in_fresh_process(name: str, reloaded: dict[str, Any]) -> None:
    from faceport.lower import lower

    result, x, got = reloaded[name]
    with torch.no_grad():
        ref = lower(graph_for(name))(torch.from_numpy(x))
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(got.files) == len(ref)
    errors = [float(np.abs(r.numpy() - got[f"arr_{i}"]).max()) for i, r in enumerate(ref)]
    print(f"{name}: {result}; reload vs eager max-abs {max(errors)}")
    assert max(errors) <= 1e-6
    expected = {"dlib": "script", "s3fd": "script", "mnet": "trace"}[name]
    assert result.method == expected, result.reason


def test_cli_export_with_postprocess(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "dlib_det.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "faceport", "export", str(source_path("dlib")), "--format", "onnx",
         "--opset", "16", "--with-postprocess", "--input-size", "320x240", "--upsample", "1",
         "--max-candidates", "300", "--mobile-check", "--ort", "-o", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mobile check" in proc.stdout
    model = onnx.load(str(out))
    assert {n.op_type for n in model.graph.node} >= {"Loop", "TopK", "Conv"}
    assert [i.name for i in model.graph.input] == ["image", "score_threshold", "iou_threshold"]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [240, 320, 3]
    props = {p.key: p.value for p in model.metadata_props}
    assert (props["faceport.input_size"], props["faceport.upsample_num_times"],
            props["faceport.max_candidates"]) == ("320x240", "1", "300")  # fmt: skip
    assert out.with_suffix(".ort").stat().st_size > 0
