"""Hostile input for the dlib .dat reader: truncation, corrupted varints/floats/strings,
huge or negative tensor dims, deep header chains. Only FormatError may come out."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_reader import read_dat, read_dat_bytes
from faceport.errors import FormatError
from tests.conftest import shared_fixture
from tests.converters.dlib.dat_bytes import (
    EMPTY,
    dat_net,
    on_input,
    v_alias,
    v_bool,
    v_float,
    v_int,
    v_str,
    v_tensor,
)


@pytest.fixture(scope="module")
def mmod_bytes() -> bytes:
    return shared_fixture("dlib/mmod_human_face_detector.dat").read_bytes()


def _expect_format_error(path: Path) -> FormatError:
    with pytest.raises(FormatError) as info:
        read_dat(path)
    err = info.value
    assert err.file == str(path) and err.offset is not None and err.field, str(err)
    return err


def test_truncation_everywhere_is_a_located_format_error(mmod_bytes: bytes) -> None:
    rng = random.Random(0)
    cuts = list(range(4096)) + sorted(rng.sample(range(4096, len(mmod_bytes)), 150))
    for cut in cuts:
        with pytest.raises(FormatError) as info:
            read_dat_bytes(mmod_bytes[:cut], "cut.dat")
        err = info.value
        assert err.file == "cut.dat" and err.field, str(err)
        assert err.offset is not None and err.offset <= cut, (cut, str(err))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_byte_corruption_never_escapes_as_another_exception(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    raw = bytearray(shared_fixture("dlib/mmod_human_face_detector.dat").read_bytes()[:3000])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("fuzz") / "x.dat"
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError):  # 3000 bytes are never a whole network
        read_dat(path)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_primitives_only_raise_format_error(blob: bytes) -> None:
    for read in ("read_int", "read_uint", "read_float", "read_bool", "read_string",
                 "read_tensor", "read_alias_tensor"):
        r = BinaryReader(blob, "blob")
        try:
            getattr(r, read)("f")
        except FormatError as err:
            assert err.file == "blob" and err.offset is not None and err.field
        assert r.pos <= len(blob)


def _tensor(*dims: int, version: int = 2) -> bytes:
    def pack(v: int) -> bytes:
        mag = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
        return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag

    return pack(version) + b"".join(pack(d) for d in dims)


@pytest.mark.parametrize(
    "dims",
    [(10**6, 10**6, 1, 1), (1, 1, 1, -1), (2**62, 2**62, 2**62, 2**62), (1, 3, 5, 7)],
)
def test_hostile_tensor_dims_fail_before_allocating(dims: tuple[int, ...]) -> None:
    r = BinaryReader(_tensor(*dims) + b"\0" * 100, "t")  # 100 bytes: < 105 floats
    with pytest.raises(FormatError, match=r"tensor|dimension"):
        r.read_tensor("params")


def _fc(num_outputs: int, num_inputs: int, bias_mode: int = 1) -> bytes:
    """fc_2 with an empty params tensor: only the two sizes say what shape it has."""
    return (v_str("fc_2") + v_int(num_outputs) + v_int(num_inputs) + EMPTY
            + v_alias((0, 0, 0, 0)) * 2 + v_int(bias_mode) + v_float(1.0) * 4)


def _con(filters: tuple[int, int, int, int], n_params: int = 1) -> bytes:
    """con_4 with num_filters 1 and the given filters alias (its shape is the weight's)."""
    return (v_str("con_4") + v_tensor([0.0] * n_params, (n_params, 1, 1, 1)) + v_int(1)
            + v_int(1) * 2 + v_int(1) * 2 + v_int(0) * 2 + v_alias(filters)
            + v_alias((1, 1, 1, 1)) + v_float(1.0) * 4)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        (_fc(2**62, 0), "params.weight"),  # the fuzzer's find: (0, 2**62) -> "array is too big"
        (_fc(2**64 - 1, 0), "params.weight"),  # -> "Maximum allowed dimension exceeded"
        (_fc(0, 2**40), "params.weight"),
        (_con((1, 0, 2**40, 2**40)), "filters"),  # weight (1, 0, 2**40, 2**40) + 1 bias
        (v_str("embeddings_") + EMPTY + v_int(0) + v_int(2**62) + v_float(1.0) + v_bool(True),
         "embs.embeddings"),
    ],
    ids=["fc-2**62", "fc-2**64", "fc-inputs-2**40", "con-filters", "embeddings"],
)
def test_empty_params_with_huge_shapes_are_format_errors(details: bytes, field: str) -> None:
    """An empty params tensor passes every byte check; its shape comes from other fields
    (sizes, an alias tensor) and must be bounded before numpy reshapes it."""
    with pytest.raises(FormatError, match="implausible") as info:
        read_dat_bytes(dat_net(on_input(details)), "mem.dat")
    err = info.value
    assert err.file == "mem.dat" and err.field.endswith(f") {field}") and err.offset, str(err)


def test_bounded_empty_params_still_read() -> None:
    """An fc that was never set up (no inputs yet) is a real dlib file: still read."""
    layers, _ = read_dat_bytes(dat_net(on_input(_fc(10, 0))), "mem.dat")
    assert layers[1].kind == "fc_no_bias" and layers[1].params["weight"].shape == (0, 10)


@pytest.mark.parametrize("dims", [(0, 2**40, 2**40, 1), (1, 1, 1, 2**31 + 1)])
def test_hostile_alias_dims_are_format_errors(dims: tuple[int, ...]) -> None:
    with pytest.raises(FormatError, match="implausible") as info:
        BinaryReader(v_alias(dims) + b"\0" * 8, "a").read_alias_tensor("filters")
    assert info.value.field == "filters" and info.value.offset == 0


def test_varint_size_nibble_too_big() -> None:
    with pytest.raises(FormatError, match="size byte"):
        BinaryReader(b"\x09" + b"\0" * 9, "v").read_int("x", 8)
    with pytest.raises(FormatError, match="size byte"):
        BinaryReader(b"\x05\0\0\0\0\0", "v").read_int("x", 4)
    with pytest.raises(FormatError, match="negative"):
        BinaryReader(b"\x81\x01", "v").read_uint("x")


def test_corrupted_floats() -> None:
    assert BinaryReader(b"\x01\x10\x81\x04", "f").read_float("x") == 1.0  # 16 * 2**-4
    assert BinaryReader(b"\x01\x00\x02\x00\x7d", "f").read_float("x") == float("inf")
    with pytest.raises(FormatError, match="exponent"):
        BinaryReader(b"\x01\x00\x02\x05\x7d", "f").read_float("x")  # 32005
    with pytest.raises(FormatError, match="size byte"):
        BinaryReader(b"\x01\x01\x03\x00\x00\x01", "f").read_float("x")  # 3-byte int16
    with pytest.raises(FormatError, match="out of range"):
        BinaryReader(b"\x01\x01\x02\xf0\x7c", "f").read_float("x")  # 2**31984


def test_corrupted_bool_and_string() -> None:
    with pytest.raises(FormatError, match="bool"):
        BinaryReader(b"\x01", "b").read_bool("flag")
    with pytest.raises(FormatError, match="too long"):
        BinaryReader(b"\x04\xff\xff\xff\x7f", "s").read_string("name")


def test_deep_header_chain_is_iterative(tmp_path: Path) -> None:
    head = b"\x01\x01\x01\x0aloss_mmod_"
    path = tmp_path / "deep.dat"
    path.write_bytes(head + b"\x01\x01\x01\x01\x01\x10" + b"\x01\x02" * 200_000)
    err = _expect_format_error(path)
    assert err.offset is not None and err.offset >= 400_000


def test_wrong_wrapper_version(mmod_bytes: bytes, tmp_path: Path) -> None:
    data = bytearray(mmod_bytes)
    at = data.index(b"\x01\x02\x01\x02")
    data[at + 1] = 7
    path = tmp_path / "v.dat"
    path.write_bytes(bytes(data))
    err = _expect_format_error(path)
    assert err.found == 7 and err.offset == at


def test_a_run_of_possible_repeats_is_read_in_linear_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss header then ``int 1`` wrappers only (each a tag/skip or the start of a repeat):
    every repeat attempt used to re-walk the rest of the chain (fuzz/reproducers/dlib_dat/
    quadratic-wrapper-chain.dat: 2.4 KB took 14 s). Counted in reads, not seconds: doubling
    the chain must about double the work."""
    from faceport.converters.dlib import binary
    from faceport.converters.dlib.dat_reader import read_dat
    from faceport.errors import FormatError

    counted = {"n": 0}
    original = binary.BinaryReader.read_int

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counted["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(binary.BinaryReader, "read_int", counting)
    work = []
    for n in (400, 800, 1600):
        path = tmp_path / f"chain{n}.dat"
        path.write_bytes(b"\x01\x01\x01\x14loss_multiclass_log_" + b"\x01\x01" * n)
        counted["n"] = 0
        with pytest.raises(FormatError, match="unexpected end of file"):
            read_dat(path)
        work.append(counted["n"])
    assert work[1] / work[0] < 2.3 and work[2] / work[1] < 2.3, work
