"""Symbol <-> params cross-check, variables, legacy layouts, unknown ops, the family API."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mx_files import Sym, params_bytes, write_checkpoint

from faceport.converters import sniff
from faceport.converters.mxnet.family import FAMILY, checkpoint_files
from faceport.errors import FaceportError, FormatError, UnsupportedOpError
from faceport.kinds import detector as kind_detector
from faceport.lower import lower


def _net(bn_aux: bool = True) -> tuple[Sym, dict[str, Any]]:
    s = Sym()
    d = s.var("data")
    w = s.var("conv_weight")
    b = s.var("conv_bias")
    c = s.op("Convolution", "conv", [d, w, b], kernel=(3, 3), num_filter=4, pad=(1, 1))
    bn_in = [c] + [s.var(f"bn_{r}") for r in ("gamma", "beta")]
    if bn_aux:
        bn_in += [s.var("bn_moving_mean"), s.var("bn_moving_var")]
    bn = s.op("BatchNorm", "bn", bn_in, fix_gamma=False, eps=1e-5)
    label = s.var("softmax_label")
    s.op("SoftmaxOutput", "softmax", [bn, label], multi_output=True)
    rng = np.random.default_rng(0)
    params = {
        "arg:conv_weight": rng.standard_normal((4, 3, 3, 3)).astype("f4"),
        "arg:conv_bias": np.zeros(4, "f4"),
        "arg:bn_gamma": np.ones(4, "f4"),
        "arg:bn_beta": np.zeros(4, "f4"),
        "aux:bn_moving_mean": np.zeros(4, "f4"),
        "aux:bn_moving_var": np.ones(4, "f4"),
    }
    return s, params


def test_variables_become_params_inputs_or_dropped_labels(tmp_path: Path) -> None:
    s, params = _net()
    graph = FAMILY.convert(write_checkpoint(tmp_path, s, params))
    assert [spec.name for spec in graph.inputs] == ["data"]
    assert graph.inputs[0].shape == (None, 3, None, None)  # channels from the conv weight
    assert graph.node("conv").params == {"weight": "conv_weight", "bias": "conv_bias"}
    assert graph.node("bn").params["moving_var"] == "bn_moving_var"
    assert graph.node("softmax").inputs == ("bn",)
    assert graph.outputs == ("softmax",)
    assert graph.meta["family"] == "mxnet" and len(graph.meta["sources"]) == 2


def test_pre_09_json_without_aux_variables(tmp_path: Path) -> None:
    s, params = _net(bn_aux=False)
    graph = FAMILY.convert(write_checkpoint(tmp_path, s, params, layout="0.x"))
    assert graph.node("bn").params["moving_mean"] == "bn_moving_mean"


def test_missing_parameters_are_all_named(tmp_path: Path) -> None:
    s, params = _net()
    del params["arg:conv_bias"], params["aux:bn_moving_var"]
    with pytest.raises(FormatError, match="lacks 2 parameter") as info:
        FAMILY.convert(write_checkpoint(tmp_path, s, params))
    assert "conv_bias" in str(info.value) and "bn_moving_var" in str(info.value)
    assert info.value.file is not None and info.value.file.endswith("model-0000.params")


def test_extra_parameters_are_reported(tmp_path: Path, caplog: Any) -> None:
    s, params = _net()
    params["arg:fc_weight"] = np.ones((2, 2), "f4")
    with caplog.at_level(logging.WARNING):
        graph = FAMILY.convert(write_checkpoint(tmp_path, s, params))
    assert graph.meta["unused_params"] == ["fc_weight"]
    assert "fc_weight" in caplog.text


@pytest.mark.parametrize(
    ("key", "array", "match"),
    [
        ("arg:conv_weight", np.ones((4, 3, 5, 5), "f4"), r"expected \(4, 3, 3, 3\)"),
        ("arg:conv_weight", np.ones((4, 3, 3), "f4"), "wrong shape"),
        ("arg:conv_bias", np.ones(5, "f4"), r"expected \(4,\)"),
        ("arg:bn_gamma", np.ones(3, "f4"), "bn_gamma"),
        ("aux:bn_moving_var", np.ones((4, 1), "f4"), "moving_var"),
    ],
)
def test_shape_mismatch_symbol_vs_params(tmp_path: Path, key: str, array: np.ndarray,
                                         match: str) -> None:
    s, params = _net()
    params[key] = array
    with pytest.raises(FormatError, match=match) as info:
        FAMILY.convert(write_checkpoint(tmp_path, s, params))
    assert info.value.field is not None and "nodes[" in info.value.field


def test_channel_count_propagates_to_later_convs(tmp_path: Path) -> None:
    s = Sym()
    d = s.var("data")
    c1 = s.op("Convolution", "c1", [d, s.var("c1_weight")], kernel=(1, 1), num_filter=6,
              no_bias=True)
    s.op("Convolution", "c2", [c1, s.var("c2_weight")], kernel=(3, 3), num_filter=4,
         num_group=2, no_bias=True)
    params = {"arg:c1_weight": np.ones((6, 3, 1, 1), "f4"),
              "arg:c2_weight": np.ones((4, 2, 3, 3), "f4")}  # should be (4, 3, 3, 3)
    with pytest.raises(FormatError, match=r"expected \(4, 3, 3, 3\), found \(4, 2, 3, 3\)"):
        FAMILY.convert(write_checkpoint(tmp_path, s, params))


def test_unknown_op_is_unsupported_op_error(tmp_path: Path) -> None:
    s = Sym()
    s.op("MyFancyOp", "fancy", [s.var("data")], alpha=2)
    graph = FAMILY.convert(write_checkpoint(tmp_path, s, {}))
    with pytest.raises(UnsupportedOpError) as info:
        lower(graph)
    err = info.value
    assert err.op == "MyFancyOp" and err.node == "fancy" and "Convolution" in err.supported
    assert err.file is not None and err.file.endswith("model-symbol.json")


def test_hostile_attribute_values_fail_with_node_and_field(tmp_path: Path) -> None:
    s, params = _net()
    data = s.to_json()
    data["nodes"][3]["attrs"]["kernel"] = "(3, x)"
    (tmp_path / "model-symbol.json").write_text(json.dumps(data))
    (tmp_path / "model-0000.params").write_bytes(params_bytes(params))
    with pytest.raises(FormatError) as info:
        FAMILY.convert(tmp_path / "model-symbol.json")
    assert info.value.field == "nodes[3] (conv).attrs.kernel"


def test_family_sniff_and_epochs(tmp_path: Path) -> None:
    s, params = _net()
    symbol = write_checkpoint(tmp_path, s, params, epoch=3)
    (tmp_path / "model-0010.params").write_bytes(params_bytes(params))
    assert sniff(symbol) is FAMILY
    assert sniff(tmp_path / "model-0003.params") is FAMILY
    assert checkpoint_files(symbol)[1].name == "model-0010.params"  # newest epoch
    assert checkpoint_files(tmp_path / "model", epoch=3)[1].name == "model-0003.params"
    assert checkpoint_files(tmp_path / "model-0003.params")[1].name == "model-0003.params"
    with pytest.raises(FaceportError, match="epoch 7"):
        checkpoint_files(symbol, epoch=7)
    assert kind_detector(FAMILY.convert(symbol)) is None  # not a RetinaFace


_ATTR_TEXT = st.one_of(
    st.sampled_from(["-1", "0", "(0, 0)", "(-3, 2)", "(1,)", "(1, 1, 1)", "1e308", "None",
                     "True", "(None, None)", "99999999999", "nan", "-inf", "[]", "()", "x"]),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(node=st.sampled_from([3, 8, 10]), key=st.sampled_from(
    ["kernel", "num_filter", "pad", "stride", "dilate", "num_group", "no_bias", "eps", "axis",
     "fix_gamma", "multi_output", "preserve_shape", "layout"]), text=_ATTR_TEXT)
def test_hostile_attributes_through_convert_and_lower(tmp_path: Path, node: int, key: str,
                                                       text: str) -> None:
    s, params = _net()
    data = s.to_json()
    data["nodes"][node]["attrs"][key] = text
    (tmp_path / "model-symbol.json").write_text(json.dumps(data))
    (tmp_path / "model-0000.params").write_bytes(params_bytes(params))
    try:
        graph = FAMILY.convert(tmp_path / "model-symbol.json")
        lower(graph)
    except FaceportError as exc:
        assert exc.file is not None
