"""Build dlib-serialized byte streams by hand, in the order dlib's ``serialize`` writes them
(``dlib/serialize.h``, ``dlib/dnn/core.h``), for reader tests that need no dlib."""

from __future__ import annotations

import math

import numpy as np


def v_int(value: int) -> bytes:
    """pack_int: size byte (0x80 = negative) then the magnitude's little-endian bytes."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def v_bool(value: bool) -> bytes:
    return b"1" if value else b"0"


def v_str(text: str) -> bytes:
    return v_int(len(text)) + text.encode("ascii")


def v_float(value: float) -> bytes:
    """float_details: int64 mantissa, int16 exponent (32000/32001/32002: +inf, -inf, NaN)."""
    if math.isinf(value):
        return v_int(0) + v_int(32000 if value > 0 else 32001)
    mantissa, exponent = math.frexp(value)
    return v_int(int(mantissa * 2**53)) + v_int(exponent - 53 if mantissa else 0)


def v_tensor(values: np.ndarray | list[float], dims: tuple[int, int, int, int]) -> bytes:
    data = np.asarray(values, dtype="<f4")
    assert data.size == math.prod(dims)
    return v_int(2) + b"".join(v_int(d) for d in dims) + data.tobytes()


def v_alias(dims: tuple[int, int, int, int]) -> bytes:
    return v_int(1) + b"".join(v_int(d) for d in dims)


EMPTY = v_tensor([], (0, 0, 0, 0))
INPUT_MATRIX = v_str("input<matrix>")


def trailer() -> bytes:
    """add_layer's state after its details: 3 bools, x_grad, cached_output, params_grad."""
    return v_bool(False) * 3 + EMPTY * 3


def layer(details: bytes, sub: bytes) -> bytes:
    """add_layer<details, sub> (version 2)."""
    return v_int(2) + sub + details + trailer()


def on_input(details: bytes, input_layer: bytes = INPUT_MATRIX) -> bytes:
    """add_layer on the input layer (version 3); ``input_layer=b""`` is a repeat block's
    repeat_input_layer, which writes nothing."""
    return v_int(3) + input_layer + details + trailer() + v_int(1)


def tag_on_input(input_layer: bytes = INPUT_MATRIX) -> bytes:
    """add_tag_layer on the input layer (version 2): cached_output, grad_final, bool, uint."""
    return v_int(2) + input_layer + EMPTY * 2 + v_bool(False) + v_int(1)


def tag(sub: bytes) -> bytes:
    """add_tag_layer / add_skip_layer (version 1)."""
    return v_int(1) + sub


def repeat(blocks: list[bytes], sub: bytes) -> bytes:
    """repeat<N, BLOCK, sub>: version 1, the block vector (size, blocks), then sub."""
    return v_int(1) + v_int(len(blocks)) + b"".join(blocks) + sub


def dat_net(chain: bytes, loss: bytes | None = v_str("loss_multiclass_log_")) -> bytes:
    """A whole file: add_loss_layer (version 1, loss details) over ``chain``, or the bare
    chain of a net declared without a loss layer."""
    return chain if loss is None else v_int(1) + loss + chain
