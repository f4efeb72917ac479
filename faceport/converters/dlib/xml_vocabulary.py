"""The tags and attributes dlib's ``to_xml`` functions write, and how params split by role.

Sources (dlib ``dlib/dnn/{layers,input,loss}.h``, ``utilities.h``): every ``to_xml`` writes
one element named after the layer (``<con ...>``); attribute values are the C++ members
printed with ``operator<<`` (stream precision 9; bools as ``true``/``false``); a layer
with parameters writes ``mat(params)`` as element text, the layer's whole flat parameter
tensor. Optional attributes below appeared in later dlib versions (``use_bias`` on
con/cont/fc, ``use_relu`` on con after layer fusion, ``disabled`` on relu/affine after
``disable()``, the pyramid paddings) and are absent from files older dlib wrote.

:data:`COMP`, :data:`INPUT` map a tag to its attribute table (name -> kind of value,
required?). Attributes not in a table are kept, typed by :func:`infer_value`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

# value kinds: "count" int >= 1, "size" int >= 0, "float" finite, "bool", "ids" "1,2,3"
AttrTable = Mapping[str, tuple[str, bool]]

_MULTS: AttrTable = {
    "learning_rate_mult": ("float", False),
    "weight_decay_mult": ("float", False),
    "bias_learning_rate_mult": ("float", False),
    "bias_weight_decay_mult": ("float", False),
}
_CONV: AttrTable = {
    "num_filters": ("count", True),
    "nr": ("count", True),
    "nc": ("count", True),
    "stride_y": ("count", True),
    "stride_x": ("count", True),
    "padding_y": ("size", True),
    "padding_x": ("size", True),
    "use_bias": ("bool", False),
    **_MULTS,
}
_POOL: AttrTable = {
    "nr": ("size", True),  # 0: the whole input plane (max_pool_everything)
    "nc": ("size", True),
    "stride_y": ("count", True),
    "stride_x": ("count", True),
    "padding_y": ("size", True),
    "padding_x": ("size", True),
}
_BN: AttrTable = {"eps": ("float", True), "running_stats_window_size": ("float", False), **_MULTS}
_TAGGED: AttrTable = {"tag": ("size", True)}
_RGB: AttrTable = {"r": ("float", True), "g": ("float", True), "b": ("float", True)}
_PYRAMID: AttrTable = {"pyramid_padding": ("size", False), "pyramid_outer_padding": ("size", False)}

COMP: dict[str, AttrTable] = {
    "con": {
        **_CONV,
        "use_relu": ("bool", False),
        "dilate_y": ("count", False),
        "dilate_x": ("count", False),
    },
    "cont": _CONV,
    "fc": {"num_outputs": ("count", True), "use_bias": ("bool", False), **_MULTS},
    "fc_no_bias": {"num_outputs": ("count", True), **_MULTS},
    "affine_con": {"disabled": ("bool", False)},
    "affine_fc": {"disabled": ("bool", False)},
    "bn_con": _BN,
    "bn_fc": _BN,
    "prelu": {"initial_param_value": ("float", False)},
    "relu": {"disabled": ("bool", False)},
    "leaky_relu": {"alpha": ("float", True)},
    "elu": {"alpha": ("float", True)},
    "clipped_relu": {"ceiling": ("float", True)},
    "smelu": {"beta": ("float", True)},
    "sig": {},
    "htan": {},
    "gelu": {},
    "mish": {},
    "silu": {},
    "softmax": {},
    "softmax_all": {},
    "l2normalize": {"eps": ("float", True)},
    "dropout": {"drop_rate": ("float", True)},
    "multiply": {"val": ("float", True)},
    "max_pool": _POOL,
    "avg_pool": _POOL,
    "upsample": {"scale_y": ("count", True), "scale_x": ("count", True)},
    "resize_to": {"nr": ("count", True), "nc": ("count", True)},
    "extract": {
        "offset": ("size", True),
        "k": ("count", True),
        "nr": ("count", True),
        "nc": ("count", True),
    },
    "add_prev": _TAGGED,
    "mult_prev": _TAGGED,
    "multm_prev": _TAGGED,
    "resize_prev_to_tagged": _TAGGED,
    "scale": _TAGGED,
    "scale_prev": _TAGGED,
    "concat": {"tags": ("ids", True)},
}

INPUT: dict[str, AttrTable] = {
    "input": {},
    "input_rgb_image": _RGB,
    "input_rgb_image_sized": {**_RGB, "nr": ("count", True), "nc": ("count", True)},
    "input_rgb_image_pyramid": {**_RGB, **_PYRAMID},
    "input_grayscale_image_pyramid": _PYRAMID,
}

#: attributes a file from an older dlib omits, with the value that dlib version implied
#: (con/cont/fc always had a bias before ``use_bias`` existed); the .dat reader agrees
DEFAULTS: dict[str, dict[str, Any]] = {
    "con": {"use_bias": True},
    "cont": {"use_bias": True},
    "fc": {"use_bias": True},
}

_INT = re.compile(r"[+-]?\d{1,19}")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class ValueProblem(ValueError):
    """An attribute value or a param count that does not fit; carries expected/found."""

    def __init__(self, expected: Any, found: Any) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"expected {expected}, found {found!r}")


def parse_value(kind: str, text: str) -> Any:
    """Convert one attribute value of value kind ``kind`` (see the module docstring)."""
    text = text.strip()
    if kind in ("count", "size"):
        if _INT.fullmatch(text) is None:
            raise ValueProblem("an integer", text)
        number = int(text)
        if number < (1 if kind == "count" else 0):
            raise ValueProblem("an integer >= 1" if kind == "count" else "an integer >= 0", text)
        return number
    if kind == "float":
        if _FLOAT.fullmatch(text) is None or not math.isfinite(float(text)):
            raise ValueProblem("a finite decimal number", text)
        return float(text)
    if kind == "bool":
        if text not in ("true", "false", "1", "0"):
            raise ValueProblem("true or false", text)
        return text in ("true", "1")
    if kind == "ids":
        parts = text.split(",")
        if not text or any(_INT.fullmatch(p.strip()) is None or int(p) < 0 for p in parts):
            raise ValueProblem("comma-separated tag ids >= 0", text)
        return [int(p) for p in parts]
    raise ValueError(f"unknown value kind {kind!r}")


def infer_value(text: str) -> Any:
    """Type an attribute no table describes: int, float, bool, else the string."""
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    if stripped in ("true", "false"):
        return stripped == "true"
    return text


def _conv_params(transposed: bool) -> Callable[[dict[str, Any], np.ndarray], dict[str, np.ndarray]]:
    def split(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
        nf, nr, nc = attrs["num_filters"], attrs["nr"], attrs["nc"]
        n_bias = nf if attrs.get("use_bias", True) else 0
        per_input = nf * nr * nc
        n_weight = flat.size - n_bias
        if n_weight <= 0 or n_weight % per_input:
            bias = " + num_filters" if n_bias else ""
            raise ValueProblem(
                f"num_filters*k_in*nr*nc{bias} floats ({per_input}*k_in{bias})", flat.size
            )
        k_in = n_weight // per_input
        shape = (k_in, nf, nr, nc) if transposed else (nf, k_in, nr, nc)
        out = {"weight": flat[:n_weight].reshape(shape).copy()}
        if n_bias:
            out["bias"] = flat[n_weight:].copy()
        return out

    return split


def _fc_params(attrs: dict[str, Any], flat: np.ndarray, *, kind: str) -> dict[str, np.ndarray]:
    # dlib's fc params tensor is (num_inputs [+1 bias row], num_outputs), row major
    n_out = attrs["num_outputs"]
    has_bias = kind == "fc" and attrs.get("use_bias", True)
    rows, rest = divmod(flat.size, n_out)
    k_in = rows - (1 if has_bias else 0)
    if rest or k_in < 1:
        raise ValueProblem(
            f"(num_inputs{' + 1' if has_bias else ''})*num_outputs floats with num_outputs={n_out}",
            flat.size,
        )
    out = {"weight": flat[: k_in * n_out].reshape(k_in, n_out).copy()}
    if has_bias:
        out["bias"] = flat[k_in * n_out :].copy()
    return out


def _scale_shift_params(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    if flat.size == 0 and attrs.get("disabled", False):
        return {}  # a disabled affine layer (dlib's disable()) keeps no parameters
    if flat.size == 0 or flat.size % 2:
        raise ValueProblem("an even, non-zero number of floats (gamma then beta)", flat.size)
    half = flat.size // 2
    return {"gamma": flat[:half].copy(), "beta": flat[half:].copy()}


def _prelu_params(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    if flat.size == 0:
        raise ValueProblem("at least one float (alpha)", 0)
    return {"alpha": flat.copy()}


PARAMS: dict[str, Callable[[dict[str, Any], np.ndarray], dict[str, np.ndarray]]] = {
    "con": _conv_params(transposed=False),
    "cont": _conv_params(transposed=True),
    "fc": lambda a, f: _fc_params(a, f, kind="fc"),
    "fc_no_bias": lambda a, f: _fc_params(a, f, kind="fc_no_bias"),
    "affine_con": _scale_shift_params,
    "affine_fc": _scale_shift_params,
    # net_to_xml writes only bn's gamma and beta, not its running mean/variance
    "bn_con": _scale_shift_params,
    "bn_fc": _scale_shift_params,
    "prelu": _prelu_params,
}


def split_params(kind: str, attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    """Split a layer's flat float32 params into roles (``layers.py`` table) or raise."""
    splitter = PARAMS.get(kind)
    if splitter is None:
        if flat.size:
            raise ValueProblem("no parameter text for this layer", f"{flat.size} numbers")
        return {}
    return splitter(attrs, flat)
