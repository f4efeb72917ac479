"""The parity matrix on a real (generated) S3FD checkpoint: inputs, skips, summary."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from faceport.errors import FaceportError
from faceport.verify.inputs import edge_images, make_inputs, parse_kinds, random_images
from faceport.verify.matrix import VerifyOptions, VerifyResult, run_matrix, summarise
from tests.verify.matrix_cases import converted, s3fd_source


def test_input_kinds_are_parsed_and_seeded() -> None:
    assert parse_kinds("random, edge,random") == ["random", "edge"]
    with pytest.raises(FaceportError, match="unknown input kind"):
        parse_kinds("photos,noise")
    a, b = random_images(3), random_images(3)
    assert [x[0] for x in a] == [y[0] for y in b]
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not np.array_equal(random_images(4)[0][1], a[0][1])
    edges = dict(edge_images(large=False))
    assert edges["edge/saturated"].min() == 255 and edges["edge/black"].max() == 0
    assert edges["edge/tiny-8x8"].shape == (8, 8, 3)
    with pytest.raises(FaceportError, match="--images"):
        make_inputs(["photos"], None)


@functools.cache
def s3fd_random_and_edge() -> VerifyResult:
    images = random_images(0) + edge_images(0, large=False)
    options = VerifyOptions(backends=("torch-cpu", "onnxruntime-cpu", "torch-cuda"))
    return run_matrix(converted(str(s3fd_source())), s3fd_source(), images, options)


def test_s3fd_random_and_edge_inputs_pass_against_the_reference() -> None:
    result = s3fd_random_and_edge()
    report = result.report
    assert result.passed, result
    assert report["backends"]["ran"] == ["s3fd-reference", "torch-cpu", "onnxruntime-cpu"]
    assert "CUDA" in report["backends"]["skipped"]["torch-cuda"]
    cases = {c["image"]: c for c in report["cases"]}
    assert "too small" in cases["edge/tiny-8x8"]["skipped"]
    assert report["summary"]["skipped_cases"] == 1
    ran = [c for c in report["cases"] if "skipped" not in c]
    assert len(ran) == 6
    for case in ran:
        assert case["baseline"] == "s3fd-reference"
        assert [c["candidate"] for c in case["comparisons"]] == ["torch-cpu", "onnxruntime-cpu"]
        for comp in case["comparisons"]:
            assert comp["passed"] and len(comp["outputs"]) == 12
            for out in comp["outputs"]:
                assert out["max_abs"] <= out["tolerance"]["atol"] * out["ref_scale"] + 1e-6
                assert sum(comp["histograms"][out["name"]]["counts"]) == out["total"]
        assert case["detections"]["compare"]["passed"]


def test_summary_names_each_failure() -> None:
    report = s3fd_random_and_edge().report
    broken = {**report, "cases": [dict(c) for c in report["cases"]]}
    case = next(c for c in broken["cases"] if c["comparisons"])
    case["comparisons"] = [dict(case["comparisons"][0], passed=False)]
    case["errors"] = {"torchscript-cpu": "boom"}
    broken["localisation"] = [
        {
            "against": "dlib-cpp",
            "reference": "dlib-cpp",
            "candidate": "torch-cpu",
            "first_divergence": "bn_con_18",
            "layers": [],
        }
    ]
    summary = summarise(broken)
    assert not summary["passed"]
    image = case["image"]
    assert summary["failures"] == [
        f"{image}: torchscript-cpu failed: boom",
        f"{image}: torch-cpu vs s3fd-reference",
        "layer bn_con_18 diverges first (torch-cpu vs dlib-cpp)",
    ]


@pytest.mark.gpu
def test_s3fd_cuda_backends_within_their_tolerances() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device (needs an NVIDIA GPU and a CUDA build of torch)")
    backends = ("torch-cuda", "torch-cuda-float16", "torch-cuda-bfloat16", "torchscript-cuda")
    images = random_images(0)[:1]
    result = run_matrix(
        converted(str(s3fd_source())), s3fd_source(), images, VerifyOptions(backends=backends)
    )
    assert result.report["backends"]["ran"] == ["s3fd-reference", *backends]
    assert result.passed, result
