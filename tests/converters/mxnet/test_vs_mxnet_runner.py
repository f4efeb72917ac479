"""The MXNet reference runner: availability messages, failures reported with MXNet's stderr,
timeouts, and internal-node taps (real MXNet where marked ``reference``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceport.backends.base import RunnerUnavailable
from faceport.errors import FaceportError
from faceport.verify.references import mxnet_venv as mxnet_ref
from faceport.verify.references.mxnet_venv import MXNetRunError, MXNetRunner, MXNetServer

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
MNET = SHARED / "retinaface_mxnet" / "mnet.25"


def test_missing_venv_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACEPORT_MXNET_PYTHON", str(tmp_path / "nope" / "bin" / "python"))
    runner = MXNetRunner(tmp_path / "x-symbol.json", None)
    reason = runner.why_unavailable()
    assert reason is not None and "make reference-mxnet" in reason
    with pytest.raises(RunnerUnavailable, match="make reference-mxnet"):
        runner.__enter__()


def _fake_python(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_crashing_backend_reports_its_stderr(tmp_path: Path) -> None:
    server = MXNetServer(_fake_python(tmp_path, 'echo "libmxnet.so: cannot open" >&2; exit 3'))
    with pytest.raises(MXNetRunError, match=r"(?s)exited with status 3.*libmxnet\.so: cannot open"):
        server.start()
    assert not server.alive


def test_silent_backend_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mxnet_ref, "_STARTUP_TIMEOUT_S", 0.5)
    server = MXNetServer(_fake_python(tmp_path, "echo waiting >&2; exec sleep 30"))
    with pytest.raises(MXNetRunError, match=r"(?s)timed out after 0.5 s.*waiting"):
        server.start()
    assert not server.alive


def test_garbage_on_stdout_is_an_error(tmp_path: Path) -> None:
    server = MXNetServer(_fake_python(tmp_path, "echo not-json; sleep 5"))
    with pytest.raises(MXNetRunError, match="non-JSON"):
        server.start()


@pytest.fixture(scope="module")
def mnet() -> tuple[Path, Path]:
    reason = mxnet_ref.why_mxnet_unavailable()
    if reason is not None:
        pytest.skip(f"MXNet reference unavailable: {reason}")
    if not MNET.is_dir():
        pytest.skip(f"shared fixture absent: {MNET}")
    return MNET / "mnet.25-symbol.json", MNET / "mnet.25-0000.params"


@pytest.mark.reference
def test_taps_and_errors_on_real_mxnet(mnet: tuple[Path, Path]) -> None:
    x = np.random.RandomState(0).uniform(0, 255, (1, 3, 64, 96)).astype(np.float32)
    with MXNetRunner(*mnet) as runner:
        full = runner.infer({"data": x})
    assert len(full) == 9 and full["face_rpn_bbox_pred_stride8"].shape == (1, 8, 8, 12)
    taps = ["mobilenet0_conv0_fwd", "face_rpn_bbox_pred_stride8_output"]
    with MXNetRunner(*mnet, outputs=taps) as runner:
        tapped = runner.infer({"data": x})
    assert list(tapped) == taps and tapped["mobilenet0_conv0_fwd"].shape == (1, 8, 32, 48)
    np.testing.assert_allclose(
        tapped["face_rpn_bbox_pred_stride8_output"], full["face_rpn_bbox_pred_stride8"],
        rtol=1e-5, atol=1e-5,
    )
    with MXNetRunner(*mnet, outputs=["no_such_node"]) as runner, pytest.raises(
        MXNetRunError, match="no_such_node"
    ):
        runner.infer({"data": x})
    with MXNetRunner(*mnet) as runner:  # the shared server survived the failed request
        again = runner.infer({"data": x})
    np.testing.assert_array_equal(again["face_rpn_bbox_pred_stride8"],
                                  full["face_rpn_bbox_pred_stride8"])
    assert isinstance(MXNetRunError("x"), FaceportError)
