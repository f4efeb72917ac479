"""Binary deserializers for the layers dlib 20 added for sequence models (``dlib/dnn/layers.h``
of dlib 20.0): rms_norm, linear, embeddings, positional_encodings, tril, transpose, slice,
reshape_to and multm_prev. Same contract as :mod:`.dat_layers` (``net_to_xml``'s tag and
attribute names; params by the roles of :mod:`~faceport.converters.dlib.layers`).
"""

from __future__ import annotations

from typing import Any

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_layers import (
    LayerFn,
    Parsed,
    _fields,
    _matrix_head,
    _mults,
    _size,
    _split,
)


def dlib_rms_norm_dat(r: BinaryReader, version: str) -> Parsed:
    """rms_norm_: params [gamma], gamma alias, the four multipliers, eps (double)."""
    _, flat = r.read_tensor("params")
    gamma = r.read_alias_tensor("gamma")
    attrs: dict[str, Any] = {}
    _mults(r, attrs)
    attrs = {"eps": r.read_float("eps"), **attrs}
    return "rms_norm", attrs, _split(r, "params", flat, [("gamma", (_size(gamma),))])


def dlib_linear_dat(r: BinaryReader, version: str) -> Parsed:
    """linear_: num_outputs, num_inputs (unsigned long), params ((num_inputs [+1]) x
    num_outputs: weights then the bias row), weights/biases aliases, bias_mode (int:
    0 LINEAR_HAS_BIAS, 1 LINEAR_NO_BIAS), learning_rate_multiplier (double)."""
    num_outputs, num_inputs, flat, mode = _matrix_head(r, "linear")
    attrs: dict[str, Any] = {"num_outputs": num_outputs, "bias": mode == 0}
    attrs["learning_rate_mult"] = r.read_float("learning_rate_multiplier")
    parts: list[tuple[str, tuple[int, ...]]] = [("weight", (num_inputs, num_outputs))]
    if mode == 0:
        parts.append(("bias", (num_outputs,)))
    return "linear", attrs, _split(r, "params", flat, parts)


def dlib_embeddings_dat(r: BinaryReader, version: str) -> Parsed:
    """embeddings_: embs tensor (num_embeddings rows of embedding_dim), num_embeddings,
    embedding_dim (unsigned long), learning_rate_multiplier (double), scale_by_freq (bool,
    training only; net_to_xml does not write it)."""
    _, flat = r.read_tensor("embs")
    num, dim = r.read_uint("num_embeddings"), r.read_uint("embedding_dim")
    attrs: dict[str, Any] = {"num_embeddings": num, "embedding_dim": dim}
    attrs["learning_rate_mult"] = r.read_float("learning_rate_multiplier")
    r.read_bool("scale_by_freq")
    return "embeddings", attrs, _split(r, "embs", flat, [("embeddings", (num, dim))])


def dlib_reshape_to_dat(r: BinaryReader, version: str) -> Parsed:
    """reshape_to_: input_k/nr/nc, output_k/nr/nc (long; -1 template values already
    resolved by setup), needs_rescale (bool) -> net_to_xml's k, nr, nc, mode."""
    for name in ("input_k", "input_nr", "input_nc"):
        r.read_int(name)
    attrs: dict[str, Any] = {name: r.read_int(f"output_{name}") for name in ("k", "nr", "nc")}
    attrs["mode"] = "spatial_rescale" if r.read_bool("needs_rescale") else "pure_reshape"
    return "reshape_to", attrs, {}


def dlib_tril_dat(r: BinaryReader, version: str) -> Parsed:
    """tril_: diag (long), diag_value (float; -inf for tril_mask)."""
    diag = r.read_int("diag")
    return "tril", {"diag": diag, "diag_value": r.read_float("diag_value", single=True)}, {}


LAYERS: dict[str, LayerFn] = {
    "rms_norm_": dlib_rms_norm_dat,
    "linear_": dlib_linear_dat,
    "embeddings_": dlib_embeddings_dat,
    "reshape_to_": dlib_reshape_to_dat,
    "tril_": dlib_tril_dat,
    "positional_encodings_": _fields("positional_encodings"),
    "transpose_": _fields("transpose"),
    "slice_": _fields("slice", *((n, "long") for n in
                                 ("offset_k", "offset_nr", "offset_nc", "k", "nr", "nc"))),
    "multm_prev_": _fields("multm_prev", ("tag", "tag")),
}
