"""parse_floats: the Arrow, numpy and strict paths agree bit for bit, and every path names
the same first bad token. The Arrow path only runs on texts of 64 KiB and more, so each
case here is embedded in a block of real-looking dlib numbers that size."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceport.converters.dlib import floattext
from faceport.converters.dlib.floattext import FloatTextError, parse_floats

pa = pytest.importorskip("pyarrow", reason="pyarrow (faceport[fast]) not installed")

GRAMMAR = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _block(n: int = 6000, seed: int = 0, rows: bool = True) -> tuple[str, np.ndarray]:
    """dlib-style text (9 significant digits, mixed fixed/scientific) of ``n`` float32
    values, one per line (``\n`` and ``\r\n``), plus with ``rows`` a matrix row with double
    spaces; and the values it must parse back to."""
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal(n) * 10.0 ** rng.integers(-7, 3, n)).astype(np.float32)
    tokens = [f"{float(v):.9g}" for v in values]
    if not rows:
        head, tail = "\n".join(tokens[: n // 2]), "\r\n".join(tokens[n // 2 :])
        return "\n" + head + "\r\n" + tail + "\n", values
    lines = ["\n".join(tokens[: n // 2]), "  ".join(tokens[n // 2 :])]
    return "\n" + "\r\n".join(lines) + "\n", values


def _reference(tokens: list[str]) -> np.ndarray | int:
    """What the grammar says: the values, or the index of the first bad token."""
    for index, token in enumerate(tokens):
        if GRAMMAR.fullmatch(token) is None:
            return index
    with np.errstate(over="ignore"):
        return np.array([float(t) for t in tokens], dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("rows", [True, False])
def test_block_round_trips_exactly_on_every_path(rows: bool) -> None:
    text, values = _block(rows=rows)
    assert len(text) >= floattext._ARROW_MIN_BYTES
    for use_arrow in (True, False):
        out = parse_floats(text, use_arrow=use_arrow)
        np.testing.assert_array_equal(out.view(np.uint32), values.view(np.uint32))
    assert floattext._parse_arrow(text.encode().translate(floattext._MAP)) is not None


def test_arrow_path_is_taken_for_large_text(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = floattext._parse_arrow
    monkeypatch.setattr(floattext, "_parse_arrow", lambda b: calls.append(len(b)) or real(b))
    text, _ = _block()
    parse_floats(text)
    parse_floats("1 2 3")  # small: numpy directly
    assert len(calls) == 1


@pytest.mark.parametrize(
    "token",
    ["1.", ".5", "+1", "-0", "+.5", "00012", "1E+05", "1e-05", "1e0400", "-1e400", "4.9e-324",
     "1e-46", "3.4028236e38", "3.4028235e38", "0.1000000000000000055511151231257827",
     "123456789012345678901234567890", "7.006492321624085e-46"],
)
def test_edge_tokens_match_python_float(token: str) -> None:
    text, values = _block()
    out = parse_floats(text + token + "\n")
    ref = _reference([token])
    assert isinstance(ref, np.ndarray)
    np.testing.assert_array_equal(out[-1:].view(np.uint32), ref.view(np.uint32))
    np.testing.assert_array_equal(out[:-1].view(np.uint32), values.view(np.uint32))


@pytest.mark.parametrize(
    "token",
    ["1e", "e5", ".", "-", "+-1", "1..2", "1-2", "1e5.5", "--1", "1e+-5", "1,5", "1\x00",
     "\u00b9", "1e5e3", "0x1p3", "1_0", "+", "E"],
)
@pytest.mark.parametrize("rows", [True, False])
def test_bad_token_is_named_at_its_offset(token: str, rows: bool) -> None:
    text, _ = _block(rows=rows)
    count = len(text.split())
    sep = " " if rows else "\n"
    with pytest.raises(FloatTextError) as info:
        parse_floats(text + sep + token + sep + "1.5\n")
    assert info.value.index == count
    assert info.value.token == token
    assert (text + sep + token)[info.value.offset :].startswith(info.value.token)


def test_non_finite_spellings_parse() -> None:
    text, values = _block()
    out = parse_floats(text + "nan -inf -nan inf\n")
    assert np.isnan(out[-4]) and out[-3] == -np.inf and np.isnan(out[-2]) and out[-1] == np.inf
    np.testing.assert_array_equal(out[:-4].view(np.uint32), values.view(np.uint32))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet="0123456789.+-eE", min_size=1, max_size=12), max_size=6))
def test_fuzzed_tokens_agree_with_the_grammar(tokens: list[str]) -> None:
    text, _ = _block(n=5000, rows=len(tokens) % 2 == 0)
    head = text.split()
    ref = _reference(head + tokens)
    body = text + ("\n" if len(tokens) % 3 else " ").join(tokens) + "\n"
    for use_arrow in (True, False):
        if isinstance(ref, int):
            with pytest.raises(FloatTextError) as info:
                parse_floats(body, use_arrow=use_arrow)
            assert info.value.index == ref
        else:
            out = parse_floats(body, use_arrow=use_arrow)
            np.testing.assert_array_equal(out.view(np.uint32), ref.view(np.uint32))


def test_without_pyarrow_the_numpy_path_gives_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_arrow(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("pyarrow"):
            raise ImportError("blocked for the test")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    text, values = _block()
    monkeypatch.setattr(builtins, "__import__", no_arrow)
    assert floattext._parse_arrow(text.encode().translate(floattext._MAP)) is None
    np.testing.assert_array_equal(parse_floats(text).view(np.uint32), values.view(np.uint32))
