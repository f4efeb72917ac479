"""ORT-format files: a float16 export really holds float16 weights (runtime optimisation
style), the float32 default stays the CPU-tuned fixed style, and both run and agree with the
.onnx they were made from."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

from faceport.errors import ExportError
from tests.exporters.export_cases import graph_for


def ort_contents(path: Path) -> tuple[collections.Counter, collections.Counter]:
    """(initializer data types, op types) of an ORT-format file, read from its flatbuffer."""
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    root = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(path.read_bytes(), 0)
    graph = root.Model().Graph()
    dtypes = collections.Counter(
        graph.Initializers(i).DataType() for i in range(graph.InitializersLength())
    )
    ops = collections.Counter(graph.Nodes(i).OpType().decode() for i in range(graph.NodesLength()))
    return dtypes, ops


FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto data types


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from faceport.exporters.onnx import export_onnx

    folder = tmp_path_factory.mktemp("ort")
    graph = graph_for("mnet")
    return {
        "fp32": export_onnx(graph, folder / "mnet.onnx").path,
        "fp16": export_onnx(graph, folder / "mnet_fp16.onnx", fp16=True).path,
    }


def _run(path: Path, **settings: object) -> list[np.ndarray]:
    from faceport.ort_session import open_session

    session = open_session(path, **settings)  # type: ignore[arg-type]
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 160, 192)).astype(np.float32)
    return list(session.run(None, {name: x}))


def test_fp16_ort_holds_float16_weights(exports: dict[str, Path], tmp_path: Path) -> None:
    from faceport.exporters.ort_tools import convert_to_ort

    ort = convert_to_ort(exports["fp16"], tmp_path / "half.ort")
    dtypes, ops = ort_contents(ort)
    print(f"fp16 .ort: {ort.stat().st_size} bytes, initializer dtypes {dict(dtypes)}")
    assert dtypes[FLOAT16] > 50 and dtypes[FLOAT16] > 5 * dtypes[FLOAT], dtypes
    assert "FusedConv" not in ops  # the runtime style: no x86-only fused kernels baked in
    with pytest.raises(ExportError, match="runtime style"):
        convert_to_ort(exports["fp16"], tmp_path / "fixed.ort", style="fixed")
    assert not (tmp_path / "fixed.ort").exists()
    ref, got = _run(exports["fp16"]), _run(ort, ort_format=True)
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b, a, atol=2e-2, rtol=2e-2)


def test_fp32_ort_default_is_the_fixed_style(exports: dict[str, Path], tmp_path: Path) -> None:
    from faceport.exporters.ort_tools import convert_to_ort

    fixed = convert_to_ort(exports["fp32"], tmp_path / "fixed.ort")
    runtime = convert_to_ort(exports["fp32"], tmp_path / "runtime.ort", style="runtime")
    fixed_types, fixed_ops = ort_contents(fixed)
    runtime_types, runtime_ops = ort_contents(runtime)
    assert set(fixed_types) == set(runtime_types) == {FLOAT, 7}  # 7: int64 shape constants
    assert "FusedConv" in fixed_ops and "FusedConv" not in runtime_ops
    ref = _run(exports["fp32"])
    for path in (fixed, runtime):
        for a, b in zip(ref, _run(path, ort_format=True)):
            np.testing.assert_allclose(b, a, atol=1e-4, rtol=1e-4)
