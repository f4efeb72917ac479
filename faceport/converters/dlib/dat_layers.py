"""Per-layer deserializers for dlib's binary DNN format: one function per layer-details
class of ``dlib/dnn/layers.h``, keyed by every version string dlib's own ``deserialize``
accepts for it.

Each function reads the fields after the version string, in the order dlib's ``serialize``
writes them, and returns ``(kind, attrs, params)`` in the conventions of
:mod:`faceport.converters.dlib.layers`: ``kind`` and the attribute names are what
``net_to_xml`` writes (``to_xml`` in layers.h), params use the roles/shapes table there.
Input layers (``dlib/dnn/input.h``) and loss layers (``dlib/dnn/loss.h``) have their own
tables; wiring ids (``add_prev``'s tag...) are not in the file and are left ``None`` for
:mod:`~faceport.converters.dlib.dat_wiring` to resolve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.limits import SHAPE_LIMITS, shape_problem

Parsed = tuple[str, dict[str, Any], dict[str, np.ndarray]]
# Fields dlib serializes but net_to_xml does not write (runtime scratch): dropped.
PRIVATE_ATTR_PREFIX = "_"
#: private attr naming an attr whose value the file does not hold (a template parameter)
ASSUMED_ATTR = "_assumed"
LayerFn = Callable[[BinaryReader, str], Parsed]


def _mults(r: BinaryReader, attrs: dict[str, Any], bias: bool = True) -> None:
    names = ["learning_rate_mult", "weight_decay_mult"]
    if bias:
        names += ["bias_learning_rate_mult", "bias_weight_decay_mult"]
    for name in names:
        attrs[name] = r.read_float(name)


def _size(dims: tuple[int, ...]) -> int:
    return math.prod(dims) if dims else 0  # Python ints: no overflow


def _split(
    r: BinaryReader,
    field: str,
    flat: np.ndarray | None,
    parts: Sequence[tuple[str, tuple[int, ...]]],
) -> dict[str, np.ndarray]:
    """Cut a layer's flat params tensor into named, reshaped arrays (sizes must add up).

    Each shape comes from other fields (sizes, an alias tensor): it is bounded first, since
    an empty tensor fits any shape holding a 0, ``(0, 2**62)`` too, which numpy refuses."""
    assert flat is not None
    for name, shape in parts:
        problem = shape_problem(shape)
        if problem is not None:
            raise r.error(
                f"implausible parameter shape: {problem}", field=f"{field}.{name}",
                expected=SHAPE_LIMITS, found=shape,
            )
    want = sum(_size(shape) for _, shape in parts)
    if flat.size != want:
        raise r.error(
            "parameter tensor size does not match the layer's shape", field=field,
            expected=f"{want} values {[(n, s) for n, s in parts]}", found=f"{flat.size} values",
        )
    out, at = {}, 0
    for name, shape in parts:
        n = _size(shape)
        out[name] = flat[at : at + n].reshape(shape)
        at += n
    return out


def dlib_con_dat(r: BinaryReader, version: str) -> Parsed:
    """con_ (con_4, con_5, con_6) and cont_ (cont_1, cont_2): params, geometry, alias shapes,
    multipliers, then use_bias from con_5/cont_2 on (always biased before), then use_relu
    (dlib 20's con_6: a relu fused into the conv by ``fuse_layers``)."""
    transposed = version.startswith("cont_")
    _, flat = r.read_tensor("params")
    attrs: dict[str, Any] = {"num_filters": r.read_int("num_filters")}
    nr, nc = r.read_int("nr"), r.read_int("nc")
    attrs["stride_y"], attrs["stride_x"] = r.read_int("stride_y", 4), r.read_int("stride_x", 4)
    attrs["padding_y"], attrs["padding_x"] = r.read_int("padding_y", 4), r.read_int("padding_x", 4)
    filters = r.read_alias_tensor("filters")
    r.read_alias_tensor("biases")
    _mults(r, attrs)
    use_bias = r.read_bool("use_bias") if version in ("con_5", "con_6", "cont_2") else True
    attrs["use_bias"] = use_bias
    if version == "con_6":
        attrs["use_relu"] = r.read_bool("use_relu")
    # con_ with nr/nc == 0 spans the whole input: the real size is in the filters alias.
    attrs["nr"], attrs["nc"] = (filters[2], filters[3]) if not transposed else (nr, nc)
    nf = attrs["num_filters"]
    if (filters[1] if transposed else filters[0]) != nf or nf <= 0:
        raise r.error(
            "filters shape disagrees with num_filters", field="filters", expected=nf, found=filters
        )
    parts: list[tuple[str, tuple[int, ...]]] = [("weight", filters)]
    if use_bias:
        parts.append(("bias", (nf,)))
    return ("cont" if transposed else "con"), attrs, _split(r, "params", flat, parts)


def _matrix_head(r: BinaryReader, layer: str) -> tuple[int, int, np.ndarray | None, int]:
    """The fields ``fc_`` and ``linear_`` share: num_outputs, num_inputs (unsigned long),
    params, weights/biases aliases, bias_mode (int: 0 has bias, 1 no bias)."""
    num_outputs, num_inputs = r.read_uint("num_outputs"), r.read_uint("num_inputs")
    _, flat = r.read_tensor("params")
    r.read_alias_tensor("weights")
    r.read_alias_tensor("biases")
    bias_mode = r.read_int("bias_mode", 4)
    if bias_mode not in (0, 1):
        raise r.error(
            f"unknown {layer} bias_mode", field="bias_mode", expected=[0, 1], found=bias_mode
        )
    return num_outputs, num_inputs, flat, bias_mode


def dlib_fc_dat(r: BinaryReader, version: str) -> Parsed:
    """fc_ (fc_2, fc_3): num_outputs, num_inputs, params (num_inputs[+1] x num_outputs),
    weights/biases aliases, bias_mode (0 FC_HAS_BIAS, 1 FC_NO_BIAS), multipliers, use_bias."""
    num_outputs, num_inputs, flat, bias_mode = _matrix_head(r, "fc")
    attrs: dict[str, Any] = {"num_outputs": num_outputs}
    _mults(r, attrs)
    use_bias = r.read_bool("use_bias") if version == "fc_3" else True
    parts: list[tuple[str, tuple[int, ...]]] = [("weight", (num_inputs, num_outputs))]
    if bias_mode == 1:
        attrs = {k: attrs[k] for k in ("num_outputs", "learning_rate_mult", "weight_decay_mult")}
        return "fc_no_bias", attrs, _split(r, "params", flat, parts)
    attrs["use_bias"] = use_bias
    if use_bias:
        parts.append(("bias", (num_outputs,)))
    return "fc", attrs, _split(r, "params", flat, parts)


def dlib_bn_dat(r: BinaryReader, version: str) -> Parsed:
    """bn_ (bn_con2, bn_fc2): params [gamma; beta], aliases, means/invstds (training
    scratch), running_means, running_variances, num_updates, window, multipliers, eps."""
    _, flat = r.read_tensor("params")
    gamma = r.read_alias_tensor("gamma")
    r.read_alias_tensor("beta")
    r.read_tensor("means", keep=False)
    r.read_tensor("invstds", keep=False)
    _, mean = r.read_tensor("running_means")
    _, var = r.read_tensor("running_variances")
    r.read_uint("num_updates")
    attrs: dict[str, Any] = {}
    window = r.read_uint("running_stats_window_size")
    _mults(r, attrs)
    attrs = {"eps": r.read_float("eps"), "running_stats_window_size": window, **attrs}
    k = _size(gamma)
    params = _split(r, "params", flat, [("gamma", (k,)), ("beta", (k,))])
    assert mean is not None and var is not None
    for name, arr in (("running_mean", mean), ("running_var", var)):
        if arr.size != k:
            raise r.error("running stats size mismatch", field=name, expected=k, found=arr.size)
        params[name] = arr.reshape(k)
    return ("bn_con" if version == "bn_con2" else "bn_fc"), attrs, params


def dlib_affine_dat(r: BinaryReader, version: str) -> Parsed:
    """affine_ (affine_, affine_2): params [gamma; beta], aliases, mode (0 CONV, 1 FC),
    is_disabled from affine_2 on (a disabled affine was fused into its conv: no params)."""
    _, flat = r.read_tensor("params")
    gamma = r.read_alias_tensor("gamma")
    r.read_alias_tensor("beta")
    mode = r.read_int("mode", 4)
    if mode not in (0, 1):
        raise r.error("unknown affine mode", field="mode", expected=[0, 1], found=mode)
    disabled = r.read_bool("is_disabled") if version == "affine_2" else False
    kind = "affine_con" if mode == 0 else "affine_fc"
    if disabled:
        return kind, {"disabled": True}, {}
    k = _size(gamma)
    return kind, {}, _split(r, "params", flat, [("gamma", (k,)), ("beta", (k,))])


def dlib_pool_dat(r: BinaryReader, version: str) -> Parsed:
    """max_pool_2 / avg_pool_2: nr, nc (long; 0 = whole input), strides, paddings (int)."""
    attrs = {"nr": r.read_int("nr"), "nc": r.read_int("nc")}
    for name in ("stride_y", "stride_x", "padding_y", "padding_x"):
        attrs[name] = r.read_int(name, 4)
    return version[: -len("_2")], attrs, {}


def dlib_prelu_dat(r: BinaryReader, version: str) -> Parsed:
    """prelu_: params (the single learned slope), initial_param_value (float)."""
    _, flat = r.read_tensor("params")
    attrs = {"initial_param_value": r.read_float("initial_param_value", single=True)}
    return "prelu", attrs, _split(r, "params", flat, [("alpha", (1,))])


def dlib_relu_dat(r: BinaryReader, version: str) -> Parsed:
    """relu_ (no fields) / relu_2 (dlib 20): bool disabled (set when fuse_layers moved the
    relu into the con below); net_to_xml writes disabled only when true, and so do we."""
    disabled = r.read_bool("disabled") if version == "relu_2" else False
    return "relu", ({"disabled": True} if disabled else {}), {}


def dlib_softmax_dat(r: BinaryReader, version: str) -> Parsed:
    """softmax_: no fields. Its mode (dlib 20's softmax = channel_wise, softmaxm = plane_wise)
    is a template parameter the file does not hold: channel_wise is assumed (the reader
    records the assumption in meta["assumptions"])."""
    return "softmax", {"mode": "channel_wise", ASSUMED_ATTR: "mode"}, {}


def dlib_layer_norm_dat(r: BinaryReader, version: str) -> Parsed:
    """layer_norm_: params [gamma; beta], aliases, means/invstds scratch, multipliers, eps."""
    _, flat = r.read_tensor("params")
    gamma = r.read_alias_tensor("gamma")
    r.read_alias_tensor("beta")
    r.read_tensor("means", keep=False)
    r.read_tensor("invstds", keep=False)
    attrs: dict[str, Any] = {}
    _mults(r, attrs)
    attrs = {"eps": r.read_float("eps"), **attrs}
    k = _size(gamma)
    return "layer_norm", attrs, _split(r, "params", flat, [("gamma", (k,)), ("beta", (k,))])


def dlib_concat_dat(r: BinaryReader, version: str) -> Parsed:
    """concat_: the number of tags (size_t); the tag ids themselves are not serialized."""
    start = r.pos
    count = r.read_uint("tag_count")
    if not 1 <= count <= 64:
        raise r.error("implausible concat tag count", field="tag_count", offset=start,
                      expected="1..64", found=count)
    return "concat", {"tags": [None] * count}, {}


def _fields(kind: str, *spec: tuple[str, str]) -> LayerFn:
    """A deserializer for a layer whose fields are plain scalars (name, type) in order;
    types: ``int`` (C int), ``long``, ``float`` (C float), ``double``, ``tensor`` (skipped),
    ``alias`` (skipped), ``tag`` (no bytes: a wiring id the .dat does not hold)."""

    def parse(r: BinaryReader, version: str) -> Parsed:
        attrs: dict[str, Any] = {}
        for name, typ in spec:
            if typ == "int":
                attrs[name] = r.read_int(name, 4)
            elif typ == "long":
                attrs[name] = r.read_int(name, 8)
            elif typ in ("float", "double"):
                attrs[name] = r.read_float(name, single=typ == "float")
            elif typ == "tensor":
                r.read_tensor(name, keep=False)
            elif typ == "alias":
                r.read_alias_tensor(name)
            elif typ == "tag":
                attrs[name] = None
        return kind, attrs, {}

    parse.__name__ = f"dlib_{kind}_dat"
    parse.__doc__ = f"{kind}: fields {[n for n, _ in spec]} in dlib's serialize order."
    return parse


LAYERS: dict[str, LayerFn] = {
    "con_4": dlib_con_dat, "con_5": dlib_con_dat, "con_6": dlib_con_dat,
    "cont_1": dlib_con_dat, "cont_2": dlib_con_dat,
    "fc_2": dlib_fc_dat, "fc_3": dlib_fc_dat,
    "bn_con2": dlib_bn_dat, "bn_fc2": dlib_bn_dat,
    "affine_": dlib_affine_dat, "affine_2": dlib_affine_dat,
    "max_pool_2": dlib_pool_dat, "avg_pool_2": dlib_pool_dat,
    "prelu_": dlib_prelu_dat,
    "layer_norm_": dlib_layer_norm_dat,
    "relu_": dlib_relu_dat, "relu_2": dlib_relu_dat,
    "sig_": _fields("sig"), "htan_": _fields("htan"),
    "mish_": _fields("mish"), "gelu_": _fields("gelu"), "silu_": _fields("silu"),
    "softmax_": dlib_softmax_dat, "softmax_all_": _fields("softmax_all"),
    "leaky_relu_": _fields("leaky_relu", ("alpha", "float")),
    "elu_": _fields("elu", ("alpha", "float")),
    "clipped_relu_": _fields("clipped_relu", ("ceiling", "float")),
    "smelu_": _fields("smelu", ("beta", "float")),
    "reorg_": _fields("reorg", ("row_stride", "long"), ("col_stride", "long")),
    "upsample_": _fields("upsample", ("scale_y", "int"), ("scale_x", "int")),
    "resize_to_": _fields("resize_to", ("nr", "long"), ("nc", "long"),
                          ("_scale_y", "double"), ("_scale_x", "double")),
    "dropout_": _fields("dropout", ("drop_rate", "float"), ("mask", "tensor")),
    "multiply_": _fields("multiply", ("val", "float")),
    "l2normalize_": _fields("l2normalize", ("eps", "double")),
    "extract_": _fields("extract", ("offset", "long"), ("k", "long"), ("nr", "long"),
                        ("nc", "long")),
    "concat_": dlib_concat_dat,
    "add_prev_": _fields("add_prev", ("tag", "tag")),
    "mult_prev_": _fields("mult_prev", ("tag", "tag")),
    "resize_prev_to_tagged_": _fields("resize_prev_to_tagged", ("tag", "tag")),
    "scale_": _fields("scale", ("reshape_scales", "alias"), ("reshape_src", "alias"),
                      ("tag", "tag")),
    "scale_prev_": _fields("scale_prev", ("reshape_scales", "alias"), ("reshape_src", "alias"),
                           ("tag", "tag")),
}

