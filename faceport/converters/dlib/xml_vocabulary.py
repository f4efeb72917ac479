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
from collections.abc import Mapping
from typing import Any

AttrTable = Mapping[str, tuple[str, bool]]

#: every value kind a table may use, with what it accepts as error messages say it
#: (``parse_value`` parses each; a test checks that the tables use no other kind)
KINDS: dict[str, str] = {
    "count": "an integer >= 1",
    "size": "an integer >= 0",
    "int": "an integer",
    "float": "a finite decimal number",
    "real": "a decimal number, inf or -inf",
    "bool": "true or false",
    "ids": "comma-separated tag ids >= 0",
    "text": "any text",
}

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
_BN: AttrTable = {"eps": ("float", True), "running_stats_window_size": ("size", False), **_MULTS}
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
    "softmax": {"mode": ("text", False)},
    "softmax_all": {},
    "l2normalize": {"eps": ("float", True)},
    "layer_norm": {"eps": ("float", True), **_MULTS},
    "rms_norm": {"eps": ("float", True), **_MULTS},
    "linear": {
        "num_outputs": ("count", True),
        "bias": ("bool", False),
        "learning_rate_mult": ("float", False),
    },
    "embeddings": {
        "num_embeddings": ("count", True),
        "embedding_dim": ("count", True),
        "learning_rate_mult": ("float", False),
    },
    "positional_encodings": {},
    "tril": {"diag": ("int", True), "diag_value": ("real", True)},
    "transpose": {},
    "slice": {
        "offset_k": ("size", True),
        "offset_nr": ("size", True),
        "offset_nc": ("size", True),
        "k": ("count", True),
        "nr": ("count", True),
        "nc": ("count", True),
    },
    "reorg": {"row_stride": ("count", True), "col_stride": ("count", True)},
    "reshape_to": {
        "k": ("count", True),
        "nr": ("count", True),
        "nc": ("count", True),
        "mode": ("text", False),
    },
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
    "input_rgb_image_pair": _RGB,
    "input_tensor": {},
}

#: attributes a file from an older dlib omits, with the value that dlib version implied
#: (con/cont/fc always had a bias before ``use_bias`` existed); the .dat reader agrees
DEFAULTS: dict[str, dict[str, Any]] = {
    "con": {"use_bias": True},
    "cont": {"use_bias": True},
    "fc": {"use_bias": True},
    # dlib 19.24 writes <softmax/>; dlib 20 adds mode (softmaxm: plane_wise)
    "softmax": {"mode": "channel_wise"},
}

_INT = re.compile(r"[+-]?\d{1,19}")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class ValueProblem(ValueError):
    """An attribute value or a param count that does not fit; carries expected/found."""

    def __init__(self, expected: Any, found: Any) -> None:
        self.expected = expected
        self.found = found
        super().__init__(f"expected {expected}, found {found!r}")


def describe(kind: str) -> str:
    """What a value of ``kind`` must look like (for errors); never raises."""
    return KINDS.get(kind, f"a value of kind {kind!r}, which the vocabulary does not define")


def parse_value(kind: str, text: str) -> Any:
    """Convert one attribute value of value kind ``kind`` (see :data:`KINDS`); a value that
    does not fit, or a kind :data:`KINDS` does not define, is a :class:`ValueProblem`."""
    text = text.strip()
    if kind in ("count", "size", "int"):
        if _INT.fullmatch(text) is None:
            raise ValueProblem(describe(kind), text)
        number = int(text)
        if (kind == "count" and number < 1) or (kind == "size" and number < 0):
            raise ValueProblem(describe(kind), text)
        return number
    if kind == "float":
        if _FLOAT.fullmatch(text) is None or not math.isfinite(float(text)):
            raise ValueProblem(describe(kind), text)
        return float(text)
    if kind == "real":
        if text.lower() in ("inf", "+inf", "-inf"):
            return float(text)
        if _FLOAT.fullmatch(text) is None or not math.isfinite(float(text)):
            raise ValueProblem(describe(kind), text)
        return float(text)
    if kind == "text":
        return text
    if kind == "bool":
        if text not in ("true", "false", "1", "0"):
            raise ValueProblem(describe(kind), text)
        return text in ("true", "1")
    if kind == "ids":
        parts = text.split(",")
        if not text or any(_INT.fullmatch(p.strip()) is None or int(p) < 0 for p in parts):
            raise ValueProblem(describe(kind), text)
        return [int(p) for p in parts]
    raise ValueProblem(describe(kind), text)


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
