"""How the parameter text of a ``net_to_xml`` layer splits into the roles of
:mod:`~faceport.converters.dlib.layers` (dlib writes ``mat(params)``: the layer's whole flat
parameter tensor, in its memory order).

Layouts (``dlib/dnn/layers.h``): con/cont weights then biases; fc/linear a
(num_inputs [+1 bias row]) x num_outputs matrix; affine/bn/layer_norm gamma then beta
(bn's running statistics are not written); rms_norm gamma only; prelu its one slope;
embeddings the (num_embeddings, embedding_dim) table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from faceport.converters.dlib.xml_vocabulary import ValueProblem

Splitter = Callable[[dict[str, Any], np.ndarray], dict[str, np.ndarray]]


def _conv_params(transposed: bool) -> Splitter:
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
    # dlib's fc/linear params tensor is (num_inputs [+1 bias row], num_outputs), row major
    n_out = attrs["num_outputs"]
    if kind == "linear":
        has_bias = attrs.get("bias", True)
    else:
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


def _gamma_params(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    if flat.size == 0:
        raise ValueProblem("at least one float (gamma)", 0)
    return {"gamma": flat.copy()}


def _embeddings_params(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    num, dim = attrs["num_embeddings"], attrs["embedding_dim"]
    if flat.size != num * dim:
        raise ValueProblem(f"num_embeddings*embedding_dim = {num * dim} floats", flat.size)
    return {"embeddings": flat.reshape(num, dim).copy()}


def _prelu_params(attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    if flat.size == 0:
        raise ValueProblem("at least one float (alpha)", 0)
    return {"alpha": flat.copy()}


PARAMS: dict[str, Splitter] = {
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
    "layer_norm": _scale_shift_params,
    "rms_norm": _gamma_params,
    "linear": lambda a, f: _fc_params(a, f, kind="linear"),
    "embeddings": _embeddings_params,
}


def split_params(kind: str, attrs: dict[str, Any], flat: np.ndarray) -> dict[str, np.ndarray]:
    """Split a layer's flat float32 params into roles (``layers.py`` table) or raise."""
    splitter = PARAMS.get(kind)
    if splitter is None:
        if flat.size:
            raise ValueProblem("no parameter text for this layer", f"{flat.size} numbers")
        return {}
    return splitter(attrs, flat)
