"""ONNX export of each family's network: parity through one dynamic file, determinism,
metadata, opset choice, external data above 2 GB."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from tests.exporters.export_cases import FAMILIES, graph_for, photo

#: (height, width): the middle one is a multiple of neither 32 nor 8
SIZES = ((128, 160), (150, 203), (192, 256))
PHOTO = "images/sfd_pytorch/test01.jpg"


def network_input(name: str, hw: tuple[int, int]) -> np.ndarray:
    """A crop of a real photo, preprocessed as the file's own metadata says."""
    from faceport.exporters.metadata import preprocessing
    from faceport.kinds import info_of

    pre = preprocessing(info_of(graph_for(name)))
    image = photo(PHOTO)[40 : 40 + hw[0], 300 : 300 + hw[1]].astype(np.float32)
    if pre["color"] == "BGR":
        image = image[:, :, ::-1]
    x = (image - np.asarray(pre["mean"], np.float32)) * np.float32(pre["scale"])
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


@pytest.mark.parametrize("name", FAMILIES)
def test_raw_outputs_match_torch_at_three_sizes(name: str, raw_onnx: Any) -> None:
    import onnxruntime as ort

    from faceport.lower import lower

    path, result = raw_onnx(name)
    graph = graph_for(name)
    module = lower(graph)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst, scale = {}, {}
    for hw in SIZES:
        x = network_input(name, hw)
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = session.run(None, {graph.inputs[0].name: x})
        assert len(got) == len(ref)
        worst[hw] = max(float(np.abs(r.numpy() - g).max()) for r, g in zip(ref, got))
        scale[hw] = max(1.0, max(float(r.abs().max()) for r in ref))
    print(f"{name}: max-abs ONNX vs torch per size {worst}, max|ref| {scale}; {result}")
    # 1e-5 absolute for outputs of unit scale; the seeded S3FD VGG's logits reach ~25 and
    # float32 accumulation over its 4608-term dot products differs by ~3e-6 of that scale
    # between oneDNN and MLAS, so the bound scales with max|ref| (measured, not widened).
    for hw in SIZES:
        assert worst[hw] <= 1e-5 * scale[hw], (hw, worst[hw], scale[hw])


@pytest.mark.parametrize("name", FAMILIES)
def test_export_is_byte_identical_and_carries_metadata(
    name: str, raw_onnx: Any, tmp_path: Path
) -> None:
    from faceport.exporters.onnx import export_onnx

    path, first = raw_onnx(name)
    again = export_onnx(graph_for(name), tmp_path / "again.onnx")
    assert again.sha256 == first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    for key in ("family", "source_file", "source_sha256", "input_layout", "color_order",
                "mean", "scale", "outputs", "output_meaning", "version"):  # fmt: skip
        assert props.get(f"faceport.{key}"), key
    assert json.loads(props["faceport.outputs"]) == list(graph_for(name).outputs)
    assert len(props["faceport.source_sha256"].split(",")[0]) == 64
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, "H", "W"]


def test_opset_is_selectable(tmp_path: Path) -> None:
    from faceport.exporters.onnx import export_onnx

    result = export_onnx(graph_for("dlib"), tmp_path / "op13.onnx", opset=13)
    model = onnx.load(str(result.path))
    assert result.opset == 13
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [13]


def test_large_models_use_external_data_in_a_fresh_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The > 2 GB path, forced by lowering the limit: weights go to <name>.onnx.d/weights.bin
    and the model still runs."""
    import onnxruntime as ort

    from faceport.errors import ExportError
    from faceport.exporters import onnx_finish
    from faceport.exporters.onnx import export_onnx

    monkeypatch.setattr(onnx_finish, "TWO_GB", 10_000)
    result = export_onnx(graph_for("dlib"), tmp_path / "big.onnx", simplify=False)
    assert result.path == tmp_path / "big.onnx.d" / "big.onnx"
    assert (tmp_path / "big.onnx.d" / onnx_finish.EXTERNAL_DATA).stat().st_size > 100_000
    assert not (tmp_path / "big.onnx").exists()
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": network_input("dlib", (96, 128))})
    assert out.shape[:2] == (1, 1)
    with pytest.raises(ExportError, match="already exists"):
        export_onnx(graph_for("dlib"), tmp_path / "big.onnx", simplify=False)


def test_fp16_network_export_keeps_the_mmod_score_map_float32(raw_onnx: Any) -> None:
    """dlib MMOD in float16: its score-map con stays float32 (listed in the metadata), the
    rest is float16, and the output matches torch within the float16 tolerance row."""
    import onnxruntime as ort

    from faceport.lower import lower
    from faceport.tolerance import tolerance_for
    from faceport.verify.compare import compare_arrays

    path, _ = raw_onnx("dlib", fp16=True)
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["faceport.fp16_fp32_nodes"]) == ["/con_1/Conv"]
    halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) >= 6 * 2  # the six other cons' weights and biases at least
    x = network_input("dlib", SIZES[1])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x})
    with torch.no_grad():
        ref = lower(graph_for("dlib"))(torch.from_numpy(x)).numpy()
    result = compare_arrays("loss_mmod_0", ref, got, tolerance_for("float16"))
    print(f"dlib fp16 network vs torch fp32: {result}")
    assert got.dtype == np.float32
    assert result, str(result)


def test_chosen_input_size_and_batch(tmp_path: Path) -> None:
    """--input-size / --batch fix those axes (and only those); a fixed export without a size
    is refused rather than pinned to a silent default."""
    import onnx

    from faceport.errors import ExportError
    from faceport.exporters.onnx import export_onnx
    from faceport.ort_session import open_session
    from tests.exporters.export_cases import graph_for

    graph = graph_for("dlib")
    path = tmp_path / "fixed.onnx"
    export_onnx(graph, path, size=(96, 128), batch=2, simplify=False)
    model = onnx.load(str(path))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 96, 128]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["faceport.dynamic"] == "false"
    (out,) = open_session(path).run(None, {model.graph.input[0].name:
                                           np.zeros((2, 3, 96, 128), np.float32)})  # fmt: skip
    assert out.shape[0] == 2
    export_onnx(graph, tmp_path / "batch.onnx", batch=4, simplify=False)
    model = onnx.load(str(tmp_path / "batch.onnx"))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 3, "H", "W"]
    with pytest.raises(ExportError, match="--input-size"):
        export_onnx(graph, tmp_path / "nosize.onnx", dynamic=False)
    assert not (tmp_path / "nosize.onnx").exists()


@pytest.mark.parametrize("name", FAMILIES)
def test_output_dimension_names_are_honest(name: str, raw_onnx: Any) -> None:
    """Two outputs that share a symbolic dimension name really have that size in common, at
    two input sizes (mnet.25's stride-16/8 maps were declared with the stride-32 names)."""
    from faceport.ort_session import open_session

    path, _ = raw_onnx(name)
    model = onnx.load(str(path))
    names = {
        o.name: [d.dim_param for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    session = open_session(path)
    for h, w in ((96, 128), (160, 224)):
        x = np.zeros((1, 3, h, w), np.float32)
        outs = dict(zip(names, session.run(list(names), {model.graph.input[0].name: x})))
        sizes: dict[str, set[int]] = {}
        for out, dims in names.items():
            for axis, param in enumerate(dims):
                if param:
                    sizes.setdefault(param, set()).add(outs[out].shape[axis])
        wrong = {p: s for p, s in sizes.items() if len(s) > 1}
        assert not wrong, f"{name} at {w}x{h}: one name, several sizes: {wrong}"
