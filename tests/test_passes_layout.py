"""faceport.passes_layout: channel padding and depthwise single-filter convolutions keep every
output (torch and onnxruntime) and refuse the patterns where they would not."""

from __future__ import annotations

import numpy as np
import pytest

from faceport import passes
from faceport.ir import Graph, Node, TensorSpec
from faceport.passes_layout import depthwise_single_filter_con, pad_dlib_channels
from tests.conftest import shared_fixture

torch = pytest.importorskip("torch")


def _con(name: str, src: str, filters: int, k: int, relu: bool = True) -> Node:
    return Node("con", name, (src,), (name,),
                {"num_filters": filters, "nr": k, "nc": k, "use_bias": True, "use_relu": relu},
                {"weight": f"{name}.w", "bias": f"{name}.b"})


def _chain(extra_reader: str | None = None) -> Graph:
    """con(3->13, relu) -> con(13->13, relu) -> con(13->1, 9x9): MMOD's shape in miniature;
    ``extra_reader`` adds a relu reading that tensor too (so it must not be padded)."""
    rng = np.random.default_rng(5)
    shapes = {"a": (13, 3, 5, 5), "b": (13, 13, 5, 5), "c": (1, 13, 9, 9)}
    params: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        params[f"{name}.w"] = rng.standard_normal(shape).astype(np.float32) * 0.2
        params[f"{name}.b"] = rng.standard_normal(shape[0]).astype(np.float32)
    nodes = [_con("a", "input", 13, 5), _con("b", "a", 13, 5), _con("c", "b", 1, 9, relu=False)]
    outputs: tuple[str, ...] = ("c",)
    if extra_reader:
        nodes.append(Node("relu", "r", (extra_reader,), ("r",), {}, {}))
        outputs = ("c", "r")
    spec = TensorSpec("input", (None, 3, None, None))
    return Graph("dlib", (spec,), tuple(nodes), outputs, params).validate()


def _outputs(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    from faceport.lower import lower

    with torch.inference_mode():
        out = lower(graph)(torch.from_numpy(x))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _assert_close(a: Graph, b: Graph, x: np.ndarray) -> None:
    for ya, yb in zip(_outputs(a, x), _outputs(b, x), strict=True):
        assert ya.shape == yb.shape
        assert float(np.abs(ya - yb).max()) <= 2e-6 * max(float(np.abs(ya).max()), 1.0)


def test_padding_then_depthwise_keeps_outputs() -> None:
    graph = _chain()
    padded, changed = pad_dlib_channels(graph)
    assert changed
    shapes = {n.name: padded.params[n.params["weight"]].shape for n in padded.nodes}
    assert shapes == {"a": (16, 3, 5, 5), "b": (16, 16, 5, 5), "c": (1, 16, 9, 9)}
    weight_b = padded.params[padded.nodes[1].params["weight"]]
    assert not weight_b[13:].any() and not weight_b[:, 13:].any()  # only zeros were added
    dw, changed = depthwise_single_filter_con(padded)
    assert changed and dw.nodes[2].attrs["faceport_depthwise_sum"] is True
    from faceport.converters.dlib.ops.conv import DlibConvDepthwiseSum
    from faceport.lower import lower

    assert isinstance(lower(dw).get_submodule("c"), DlibConvDepthwiseSum)
    x = np.random.default_rng(0).standard_normal((2, 3, 41, 37)).astype(np.float32)
    _assert_close(graph, dw, x)
    again, applied = passes.optimize(dw)
    assert applied == [] and again is dw


def test_padding_refuses_tensors_read_by_other_layers_or_outputs() -> None:
    graph = _chain(extra_reader="b")
    padded, changed = pad_dlib_channels(graph)
    assert changed  # "a" still pads (only con "b" reads it), "b" does not (relu reads it)
    shapes = {n.name: padded.params[n.params["weight"]].shape for n in padded.nodes if n.params}
    assert shapes["b"] == (13, 16, 5, 5) and shapes["c"] == (1, 13, 9, 9)
    _assert_close(graph, padded, np.random.default_rng(1).standard_normal((1, 3, 30, 30))
                  .astype(np.float32))
    # 13 input channels are not a multiple of 8: no depthwise rewrite
    assert depthwise_single_filter_con(padded) == (padded, False)


def test_mmod_optimized_onnx_matches_plain_torch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ort = pytest.importorskip("onnxruntime")
    from faceport.converters.dlib.family import FAMILY
    from faceport.detect.mmod import MMODDetector
    from faceport.exporters.onnx import export_onnx
    from faceport.imageio import load_rgb

    graph = FAMILY.convert(shared_fixture("dlib/mmod_human_face_detector.dat"))
    fast, applied = passes.optimize(graph)
    assert {"pad_dlib_channels", "depthwise_single_filter_con"} <= set(applied)
    image = load_rgb(shared_fixture("images/dlib_examples_faces/2008_002506.jpg"))
    tensor, _ = MMODDetector(graph).to_tensor(image)
    reference = MMODDetector(graph).forward(tensor)
    path = tmp_path / "mmod.onnx"
    export_onnx(fast, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: tensor})[0][0]
    assert out.shape == reference.shape
    assert float(np.abs(out - reference).max()) <= 1e-5 * max(float(np.abs(reference).max()), 1)
