"""Strict parsing of the whitespace-separated decimal floats ``net_to_xml`` writes.

dlib writes a layer's parameter tensor as ``out << mat(params)`` with the stream precision
set to 9 significant digits: one value per line (or one matrix row per line, space
separated), e.g. ``-0.00131869758``, ``5.64731527e-05``. Non-finite values come out as
C++ iostreams spell them (``inf``, ``-inf``, ``nan``, ``-nan``).

Each token is converted to the nearest float64 and then rounded to float32. A 9-digit
decimal printed from a float32 lies far closer to that float32 than half its ulp, so the
double rounding returns the original bits (the .dat equality test checks this).

Three paths, each exact (correctly rounded to float64, then cast), tried in order:

1. **Arrow** (texts of 64 KiB and more, when ``pyarrow`` is installed: ``faceport[fast]``).
   One ``bytes.translate`` pass deleting ``0-9.+-eE`` and XML whitespace tells whether
   anything else is there (nothing may be left). Text with one value per line (most
   tensors) goes to Arrow as it is; text with spaces or tabs (matrix rows) first has every
   whitespace byte mapped to a newline. Arrow's CSV reader then parses one value per line
   on two threads with its
   correctly rounded ``fast_float`` conversion (it rejects the whole text on any token
   that is not a complete number, e.g. ``1-2`` or ``1e``). Measured on the 89 MB ResNet
   XML's text: ~350 MB/s, against ~70 MB/s for path 2.
2. **numpy** over ``str.split()``: numpy's C conversion of each token.
3. **Token by token** against a strict grammar: only reached for text the fast paths
   refuse (``nan``/``inf``, garbage), so the first bad token can be named with its offset.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["FloatTextError", "parse_floats"]

_TOKEN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)", re.IGNORECASE)
_ASCII_WS = re.compile(r"[ \t\n\r]+")
_NUMBER_BYTES = b"0123456789.+-eE"
_ARROW_MIN_BYTES = 1 << 16  # below this Arrow's fixed cost (~0.1 ms) outweighs its speed


_MAP = bytes.maketrans(b" \t\r", b"\n\n\n")  # whitespace -> one value per line
_TEXT_BYTES = _NUMBER_BYTES + b" \t\n\r"


class FloatTextError(ValueError):
    """A token that is not a decimal float; ``index`` counts tokens, ``offset`` characters."""

    def __init__(self, index: int, token: str, offset: int) -> None:
        self.index = index
        self.token = token
        self.offset = offset
        super().__init__(f"token {index} {token[:40]!r} is not a number")


def parse_floats(text: str, *, use_arrow: bool = True) -> np.ndarray:
    """All whitespace-separated floats in ``text`` as a 1-D float32 array.

    Raises :class:`FloatTextError` naming the first token that is not a decimal number.
    ``use_arrow=False`` skips path 1 (the result is the same; tests compare the paths).
    """
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return _parse_slow(text)
    if not data.translate(None, _TEXT_BYTES):  # only digits, . + - e E and whitespace
        if use_arrow and len(data) >= _ARROW_MIN_BYTES:
            # one value per line (most tensors) goes to Arrow as it is; rows of a matrix
            # first get every whitespace byte mapped to a newline
            one_per_line = b" " not in data and b"\t" not in data
            values = _parse_arrow(data if one_per_line else data.translate(_MAP))
            if values is not None:
                return _to_float32(values)
        try:
            return _to_float32(np.array(text.split(), dtype=np.float64))
        except ValueError:
            pass  # e.g. "1.2.3" or "1e": let the slow path name the token
    return _parse_slow(text)


def _to_float32(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return values.astype(np.float32)


def _parse_arrow(lines: bytes) -> np.ndarray | None:
    """One number per line (empty lines skipped) as float64, or ``None`` when pyarrow is
    missing or refuses any line (the caller falls back and names the culprit)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
    except ImportError:
        return None
    try:
        table = pcsv.read_csv(
            pa.py_buffer(lines),
            # blocks of len/4 (128 KiB..1 MiB): a 0.8 MB tensor still splits over both
            # cores (measured on face.xml: 154 -> 275 MB/s; 10 MB texts are unchanged)
            read_options=pcsv.ReadOptions(
                column_names=["v"],
                use_threads=True,
                block_size=min(1 << 20, max(1 << 17, len(lines) // 4)),
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=",",  # never present: the text holds only _TEXT_BYTES
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={"v": pa.float64()},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=False,
            ),
        )
    except pa.ArrowException:
        return None
    if table.num_columns != 1 or table.column(0).null_count:
        return None
    return np.asarray(table.column(0).to_numpy(), dtype=np.float64)


def _parse_slow(text: str) -> np.ndarray:
    """Token-by-token strict conversion; finds and reports the first bad token."""
    body = text.strip(" \t\n\r")
    if not body:
        return np.empty(0, dtype=np.float32)
    tokens = _ASCII_WS.split(body)
    for index, token in enumerate(tokens):
        if _TOKEN.fullmatch(token) is None:
            raise FloatTextError(index, token, _token_offset(text, index))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array([float(t) for t in tokens], dtype=np.float64).astype(np.float32)


def _token_offset(text: str, index: int) -> int:
    for number, match in enumerate(re.finditer(r"[^ \t\n\r]+", text)):
        if number == index:
            return match.start()
    return 0
