"""Every dlib layer kind read from a .dat: the same graph as from its net_to_xml XML, and
dlib's own output where the case runs.

The cases come from dlib 20 itself (``tools/dlib_ref/extra/dlib20_vocab.cpp``, built by
``make dlib20-vocab``): each net was set up, given random parameters, saved with
``serialize`` and ``net_to_xml``, reloaded from the .dat and run. The dlib 19.24 kinds are
covered the same way by ``test_layers_vs_dlib.py`` (the dlib_ref tool); hand-built byte
streams below check what needs no dlib at all.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from faceport.converters.dlib.dat_reader import read_dat, read_dat_bytes
from faceport.errors import FormatError
from faceport.ir import Graph
from tests.converters.dlib import vocab_cases as vc
from tests.converters.dlib.dat_bytes import (
    dat_net,
    layer,
    on_input,
    repeat,
    tag,
    tag_on_input,
    v_alias,
    v_bool,
    v_float,
    v_int,
    v_str,
    v_tensor,
)

CASES = vc.case_names()
# cases dlib saves without ever running them (no params: a structure-only check)
STRUCTURE_ONLY = {name for name in CASES if name.startswith("loss_")} | {
    "input_rgb_image_pair", "input_tensor"}
# dlib 20.0's tril_ with a zero diag_value never builds its mask (check_mask loops over the
# output_mask it only sizes for a non-zero value), so dlib returns its input unchanged;
# faceport implements the documented lower-triangle semantics.
DLIB_TRIL_BUG = {"tril"}


def test_case_list_is_complete() -> None:
    """Every kind this test promises is in the generator (a removed case fails here)."""
    wanted = {"con6", "relu2", "con_relu_fused", "elu", "clipped_relu", "silu", "smelu",
              "layer_norm", "rms_norm", "linear", "linear_no_bias", "embeddings",
              "positional_encodings", "tril", "tril_mask", "transpose", "slice", "reorg",
              "reshape_to", "reshape_to_rescale", "multm_prev", "softmaxm", "repeat_simple",
              "repeat_tagged", "repeat_conv", "grayscale_pyramid", "no_loss",
              "loss_multibinary_log", "loss_yolo", "loss_multimulticlass_log"}
    assert wanted <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_dat_and_xml_give_the_same_graph(name: str) -> None:
    root = vc.cases_dir()
    if name == "loss_yolo":
        # saved without a forward pass: its con layers have no parameters yet
        for suffix in (".dat", ".xml"):
            with pytest.raises(FormatError, match="con"):
                vc.graph_of(root / f"case_{name}{suffix}")
        return
    dat = vc.graph_of(root / f"case_{name}.dat")
    xml = vc.graph_of(root / f"case_{name}.xml")
    if name == "softmaxm":
        # the mode is a template parameter: the .dat cannot say plane_wise
        assert [n.attrs.get("mode") for n in xml.nodes if n.op == "softmax"] == ["plane_wise"]
        assert [n.attrs.get("mode") for n in dat.nodes if n.op == "softmax"] == ["channel_wise"]
        assert any("mode='channel_wise' assumed" in note for note in dat.meta["assumptions"])
        return
    assert vc.same_graph(dat, xml) is None, vc.same_graph(dat, xml)


@pytest.mark.parametrize("source", ["dat", "xml"])
@pytest.mark.parametrize("name", sorted(set(CASES) - STRUCTURE_ONLY - {"softmaxm"}))
def test_output_matches_dlib(name: str, source: str) -> None:
    root = vc.cases_dir()
    feed = np.load(root / f"case_{name}_in.npy")
    ref = np.load(root / f"case_{name}_out.npy")
    out = vc.run_graph(vc.graph_of(root / f"case_{name}.{source}"), feed)
    error = vc.max_abs_error(out, ref)
    if name in DLIB_TRIL_BUG:
        assert np.array_equal(ref, feed), "dlib's tril bug is fixed: drop DLIB_TRIL_BUG"
        return
    assert error <= 1e-5 * max(1.0, float(np.abs(ref[np.isfinite(ref)]).max())), error


def test_softmaxm_from_xml_matches_dlib() -> None:
    root = vc.cases_dir()
    out = vc.run_graph(vc.graph_of(root / "case_softmaxm.xml"),
                       np.load(root / "case_softmaxm_in.npy"))
    assert vc.max_abs_error(out, np.load(root / "case_softmaxm_out.npy")) < 1e-6


def test_repeat_is_unrolled_in_dlib_layer_order() -> None:
    root = vc.cases_dir()
    layers, meta = read_dat(root / "case_repeat_tagged.dat")
    assert meta["repeats_unrolled"] == 1
    kinds = [layer.kind for layer in layers]
    block = ["add_prev", "linear", "gelu", "tag"]
    assert kinds == ["loss_mean_squared_multioutput", "linear", *block * 3, "relu", "input"]
    assert [layer.attrs.get("tag") for layer in layers if layer.kind == "add_prev"] == [1, 1, 1]


def test_yolo_and_multiclass_loss_options() -> None:
    root = vc.cases_dir()
    from faceport.converters.dlib.binary import BinaryReader
    from faceport.converters.dlib.dat_chain import read_details
    from faceport.converters.dlib.dat_heads import LOSSES

    r = BinaryReader((root / "case_loss_yolo.dat").read_bytes(), "yolo")
    assert r.read_int("v") == 1
    loss = read_details(r, LOSSES, "loss layer", 0)
    assert loss.kind == "loss_yolo" and loss.attrs["tag_count"] == 3
    assert loss.attrs["anchors"] == {1: [{"width": 10, "height": 12}, {"width": 20, "height": 18}],
                                     2: [{"width": 40, "height": 44}],
                                     3: [{"width": 90, "height": 80}]}
    assert loss.attrs["labels"] == ["face", "hand"]
    assert loss.attrs["overlaps_nms_iou_thresh"] == pytest.approx(0.45)
    layers, _ = read_dat(root / "case_loss_multimulticlass_log.dat")
    assert layers[0].attrs["labels"] == {"color": ["red", "green", "blue"],
                                         "size": ["small", "big"]}


# ---- hand-built byte streams (no dlib needed) ----------------------------------------


def _read(chain: bytes, loss: bytes | None = None) -> list:
    layers, _ = read_dat_bytes(dat_net(chain, loss), "mem")
    return layers


@pytest.mark.parametrize(
    ("details", "kind", "attrs"),
    [
        (v_str("relu_2") + v_bool(True), "relu", {"disabled": True}),
        (v_str("relu_2") + v_bool(False), "relu", {}),
        (v_str("elu_") + v_float(0.5), "elu", {"alpha": 0.5}),
        (v_str("clipped_relu_") + v_float(6.0), "clipped_relu", {"ceiling": 6.0}),
        (v_str("smelu_") + v_float(2.0), "smelu", {"beta": 2.0}),
        (v_str("silu_"), "silu", {}),
        (v_str("reorg_") + v_int(2) + v_int(3), "reorg", {"row_stride": 2, "col_stride": 3}),
        (v_str("tril_") + v_int(-1) + v_float(-math.inf), "tril",
         {"diag": -1, "diag_value": -math.inf}),
        (v_str("transpose_"), "transpose", {}),
        (v_str("positional_encodings_"), "positional_encodings", {}),
        (v_str("slice_") + b"".join(v_int(v) for v in (1, 2, 3, 4, 5, 6)), "slice",
         {"offset_k": 1, "offset_nr": 2, "offset_nc": 3, "k": 4, "nr": 5, "nc": 6}),
        (v_str("reshape_to_") + b"".join(v_int(v) for v in (3, 4, 5, 6, 2, 5)) + v_bool(False),
         "reshape_to", {"k": 6, "nr": 2, "nc": 5, "mode": "pure_reshape"}),
    ],
)
def test_parameterless_kinds_from_bytes(details: bytes, kind: str, attrs: dict) -> None:
    top, inp = _read(on_input(details))
    assert (top.kind, top.attrs, inp.kind) == (kind, attrs, "input")


def test_parameter_roles_from_bytes() -> None:
    w = np.arange(7, dtype=np.float32)  # linear: 2 inputs x 3 outputs + bias row
    linear = (v_str("linear_") + v_int(3) + v_int(2) + v_tensor(np.arange(9), (3, 3, 1, 1))
              + v_alias((2, 3, 1, 1)) + v_alias((1, 3, 1, 1)) + v_int(0) + v_float(1.0))
    rms = (v_str("rms_norm_") + v_tensor(w[:3], (1, 3, 1, 1)) + v_alias((1, 3, 1, 1))
           + v_float(1.0) * 4 + v_float(1e-5))
    emb = (v_str("embeddings_") + v_tensor(np.arange(8), (4, 2, 1, 1)) + v_int(4) + v_int(2)
           + v_float(1.0) + v_bool(True))
    con6 = (v_str("con_6") + v_tensor(np.arange(5), (5, 1, 1, 1)) + v_int(1) + v_int(2)
            + v_int(2) + v_int(1) * 2 + v_int(0) * 2 + v_alias((1, 1, 2, 2))
            + v_alias((1, 1, 1, 1)) + v_float(1.0) * 4 + v_bool(True) + v_bool(True))
    layers = _read(layer(linear, layer(rms, layer(emb, on_input(con6)))),
                   v_str("loss_multibinary_log_2") + v_float(0.25))
    loss, lin, norm, table, con, _ = layers
    assert (loss.kind, loss.attrs) == ("loss_multibinary_log", {"gamma": 0.25})
    assert lin.attrs == {"num_outputs": 3, "bias": True, "learning_rate_mult": 1.0}
    assert lin.params["weight"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert lin.params["bias"].tolist() == [6, 7, 8]
    assert norm.params["gamma"].tolist() == [0, 1, 2] and norm.attrs["eps"] == 1e-5
    assert table.params["embeddings"].shape == (4, 2)
    assert table.attrs == {"num_embeddings": 4, "embedding_dim": 2, "learning_rate_mult": 1.0}
    assert con.attrs["use_relu"] is True and con.params["weight"].shape == (1, 1, 2, 2)


def test_inputs_from_bytes() -> None:
    pyramid = v_str("input_grayscale_image_pyramid") + v_int(10) + v_int(11)
    _, inp = _read(on_input(v_str("transpose_"), pyramid))
    assert inp.kind == "input_grayscale_image_pyramid"
    assert inp.attrs["pyramid_padding"] == 10 and inp.attrs["pyramid_outer_padding"] == 11
    layers, meta = read_dat_bytes(dat_net(on_input(v_str("silu_"),
                                                   v_str("input<array<matrix>>"))), "mem")
    assert layers[-1].kind == "input" and any("channel count" in n for n in meta["assumptions"])


def test_no_loss_net_from_bytes() -> None:
    layers, meta = read_dat_bytes(
        dat_net(layer(v_str("relu_2") + v_bool(True), on_input(v_str("transpose_"))), None),
        "mem")
    assert [x.kind for x in layers] == ["relu", "transpose", "input"]
    assert meta["has_loss"] is False


def test_repeat_from_bytes_with_tag_on_repeat_input() -> None:
    """repeat<2, B, transpose<input>> with B<S> = add_prev1<tag1<S>>: each block's bottom is
    a tag on dlib's repeat_input_layer (tensors, bool, uint; no input layer)."""
    block = layer(v_str("add_prev_"), tag_on_input(b""))
    chain = layer(v_str("silu_"), repeat([block, block], on_input(v_str("transpose_"))))
    layers, meta = read_dat_bytes(dat_net(chain), "mem")
    assert [x.kind for x in layers] == ["loss_multiclass_log", "silu", "add_prev", "tag",
                                        "add_prev", "tag", "transpose", "input"]
    assert [x.idx for x in layers] == list(range(8)) and meta["repeats_unrolled"] == 1


def test_repeat_from_bytes_with_layer_on_repeat_input_and_tags_above() -> None:
    block = tag(on_input(v_str("silu_"), b""))
    chain = repeat([block] * 3, tag(on_input(v_str("transpose_"))))
    with pytest.raises(FormatError, match="tag"):  # dangling tags: refused, not guessed
        read_dat_bytes(dat_net(chain), "mem")
    block = on_input(v_str("elu_") + v_float(1.0), b"")
    layers, _ = read_dat_bytes(dat_net(repeat([block] * 3, on_input(v_str("silu_")))), "mem")
    assert [x.kind for x in layers] == ["loss_multiclass_log", "elu", "elu", "elu", "silu",
                                        "input"]


def test_repeat_blocks_must_match() -> None:
    one = layer(v_str("add_prev_"), tag_on_input(b""))
    other = layer(v_str("mult_prev_"), tag_on_input(b""))
    with pytest.raises(FormatError, match="repeat block 1 differs"):
        read_dat_bytes(dat_net(repeat([one, other], on_input(v_str("silu_")))), "mem")


def test_layer_without_input_outside_repeat_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.dat"
    path.write_bytes(dat_net(on_input(v_str("silu_"), b"")))
    with pytest.raises(FormatError, match="input layer") as info:
        read_dat(path)
    assert info.value.file == str(path) and info.value.offset is not None


# ---- dlib 19.24 cases (Debian's libdlib-dev, via tools/dlib_ref) -------------------------

# cases whose .dat holds bn_ while the XML was written from the affine net dlib loaded it into
_BN_AS_AFFINE = {"affine_con_from_bn", "affine_fc_from_bn"}


@pytest.fixture(scope="module")
def dlib19_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceport.errors import FaceportError
    from faceport.verify.references.dlib_cpp import make_layer_cases, why_no_binary

    reason = why_no_binary()
    if reason is not None:
        pytest.skip(reason)
    outdir = tmp_path_factory.mktemp("dlib19_cases")
    try:
        make_layer_cases(outdir, timeout=300)
    except FaceportError as exc:
        if not list(outdir.glob("case_*.dat")):
            pytest.skip(f"dlib_ref layers wrote no case: {exc}")
    return outdir


def _without_running_stats(graph: Graph) -> Graph:
    stats = {k for k in graph.params if k.endswith((".running_mean", ".running_var"))}
    nodes = tuple(
        dataclasses.replace(node, params={r: k for r, k in node.params.items() if k not in stats})
        for node in graph.nodes
    )
    params = {k: v for k, v in graph.params.items() if k not in stats}
    return dataclasses.replace(graph, nodes=nodes, params=params)


def test_dlib19_dat_and_xml_give_the_same_graph(dlib19_cases: Path) -> None:
    """Every case dlib 19.24 wrote: one graph from both files (bn: the XML lacks only the
    running statistics, which net_to_xml never writes)."""
    checked = 0
    for dat_path in sorted(dlib19_cases.glob("case_*.dat")):
        name = dat_path.stem[len("case_"):]
        if name.startswith("concat"):
            with pytest.raises(FormatError, match="concat's tag ids are not stored"):
                vc.graph_of(dat_path)
            continue
        if name == "multiply":  # the .dat holds dropout_, the XML its multiply_ stand-in
            continue
        dat = vc.graph_of(dat_path, bn_as_affine=name in _BN_AS_AFFINE)
        xml = vc.graph_of(dat_path.with_suffix(".xml"))
        if any(node.op.startswith("bn_") for node in xml.nodes):
            dat = _without_running_stats(dat)
        assert vc.same_graph(dat, xml) is None, (name, vc.same_graph(dat, xml))
        checked += 1
    assert checked >= 20
