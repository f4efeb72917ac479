"""The .params (NDArray-list) reader: every version and dtype, the real file, hostile bytes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mx_files import FLAGS, ndarray_bytes, params_bytes

from faceport.converters.mxnet.params import read_ndarray_list
from faceport.errors import FaceportError, FormatError
from tests.conftest import shared_fixture

MNET_PARAMS = "retinaface_mxnet/mnet.25/mnet.25-0000.params"


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(FLAGS):
        shape = [(2, 3), (4,), (1, 2, 2, 3), (5, 1), (3,), (2, 2), (1,)][i]
        out[f"arg:w_{name}"] = (rng.standard_normal(shape) * 50).astype(name)
    out["aux:bn_moving_var"] = np.arange(6, dtype=np.float32)
    return out


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_every_version_and_dtype_round_trips(version: int) -> None:
    arrays = _arrays()
    parsed = read_ndarray_list("mem.params", params_bytes(arrays, version))
    assert parsed.names == tuple(arrays)
    for (name, want), got in zip(arrays.items(), parsed.arrays, strict=True):
        assert got is not None, name
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
    args, aux = parsed.split()
    assert set(aux) == {"bn_moving_var"} and "w_float16" in args


def test_empty_arrays_are_none_and_rejected_as_weights() -> None:
    for version in (1, 2, 3):
        parsed = read_ndarray_list("e.params", params_bytes({"arg:x": None}, version))
        assert parsed.arrays == (None,)
        with pytest.raises(FormatError, match="empty"):
            parsed.split()


def test_v3_scalar_is_a_zero_dim_array() -> None:
    parsed = read_ndarray_list("s.params", params_bytes({"arg:s": np.array(2.5, "f4")}, 3))
    assert parsed.arrays[0] is not None and parsed.arrays[0].shape == ()


def test_real_mnet25_params() -> None:
    path = shared_fixture(MNET_PARAMS)
    parsed = read_ndarray_list(path)
    assert len(parsed.names) == 273
    args, aux = parsed.split()
    assert (len(args), len(aux)) == (179, 94)
    assert all(a.dtype == np.float32 for a in args.values())
    assert args["mobilenet0_conv0_weight"].shape == (8, 3, 3, 3)
    assert aux["mobilenet0_batchnorm0_running_var"].min() > 0
    # the arrays are views into the file's bytes, not copies
    assert not args["mobilenet0_conv0_weight"].flags.writeable


def _raises(data: bytes, match: str | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as info:
        read_ndarray_list("bad.params", data)
    assert "bad.params" in str(info.value)
    return info.value


def test_wrong_list_magic() -> None:
    err = _raises(b"\x13\x01" + b"\x00" * 30, "not an MXNet NDArray file")
    assert err.offset == 0 and err.field == "list magic"


def test_wrong_array_magic() -> None:
    data = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<I", 0xDEADBEEF) + b"\x00" * 64
    err = _raises(data, "bad NDArray magic")
    assert err.offset == 24 and err.field == "arrays[0].magic"


def test_sparse_storage_is_a_clear_error() -> None:
    data = struct.pack("<QQQ", 0x112, 0, 1) + ndarray_bytes(np.zeros(3, "f4"), 2, stype=1)
    _raises(data, "row_sparse storage is not supported")


def test_terabyte_dims_fail_before_allocation() -> None:
    head = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 3)
    dims = struct.pack("<3q", 1 << 20, 1 << 20, 1 << 20) + struct.pack("<iii", 1, 0, 0)
    err = _raises(head + dims + b"\x00" * 16, "runs past the end")
    assert "4611686018427387904 bytes" in str(err)


def _dims_file(dims: tuple[int, ...], version: int = 2, data: bytes = b"") -> bytes:
    """One float32 array with the given dims (v1/v2: int64 dims; 0: legacy uint32 dims)."""
    out = struct.pack("<QQQ", 0x112, 0, 1)
    if version == 0:
        out += struct.pack(f"<I{len(dims)}I", len(dims), *dims)
    else:
        out += struct.pack("<I", {1: 0xF993FAC8, 2: 0xF993FAC9, 3: 0xF993FACA}[version])
        out += struct.pack("<i", 0) if version >= 2 else b""
        out += struct.pack(f"<i{len(dims)}q", len(dims), *dims)
    return out + struct.pack("<iii", 1, 0, 0) + data + struct.pack("<Q", 0)


@pytest.mark.parametrize(
    ("version", "dims"),
    [
        (2, (0, 1 << 62, 1 << 62)),  # 0 elements, 0 bytes: passed the byte check, then reshape
        (3, (0, 1 << 40, 1 << 40)),
        (1, (1 << 20, 0, 1 << 50)),
        (0, (0, 2**32 - 1, 2**32 - 1)),  # legacy uint32 dims
        (0, (0, 2**31 + 1)),
        (2, (0, *(2**31,) * 3)),
    ],
)
def test_empty_array_with_huge_dims_is_a_format_error(version: int, dims: tuple[int, ...]) -> None:
    """The fuzzer's find: a 0 among huge dims made numpy raise "array is too big"."""
    err = _raises(_dims_file(dims, version))
    assert err.field == "arrays[0].shape.dims" and err.offset == (28 if version == 0 else 36 - (
        4 if version == 1 else 0))
    assert err.found == list(dims)


def test_shape_limits_allow_real_empty_and_large_shapes() -> None:
    parsed = read_ndarray_list("ok.params", _dims_file((0, 1 << 20, 1 << 20)))
    assert parsed.arrays[0] is not None and parsed.arrays[0].shape == (0, 1 << 20, 1 << 20)
    parsed = read_ndarray_list("ok.params", _dims_file((3, 0), 0))
    assert parsed.arrays[0] is not None and parsed.arrays[0].shape == (3, 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2**63 - 1)), min_size=1,
                max_size=6), st.sampled_from([0, 1, 2, 3]))
def test_any_dims_give_an_array_or_a_format_error(dims: list[int], version: int) -> None:
    if version == 0:
        dims = [d % 2**32 for d in dims]
    count = int(np.prod(dims, dtype=object))
    data = b"\0" * (4 * count) if count <= 64 else b""
    try:
        parsed = read_ndarray_list("h.params", _dims_file(tuple(dims), version, data))
    except FormatError as exc:
        assert exc.file == "h.params" and exc.field and exc.offset is not None
    else:
        assert parsed.arrays[0] is not None and parsed.arrays[0].shape == tuple(dims)


def test_negative_dims_and_ndim() -> None:
    head = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 2)
    _raises(head + struct.pack("<2q", 3, -5) + b"\x00" * 32, "negative dimension")
    head = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, -7)
    _raises(head + b"\x00" * 32, "bad number of dimensions")


def test_counts_checked_against_file_size() -> None:
    _raises(struct.pack("<QQQ", 0x112, 0, 1 << 60), "array count exceeds")
    good = params_bytes({"arg:a": np.ones(2, "f4")})
    names_at = len(good) - (8 + 8 + 5)
    bad_len = good[: names_at + 8] + struct.pack("<Q", 1 << 62) + good[names_at + 16 :]
    _raises(bad_len, "file ends early")
    bad_count = good[:names_at] + struct.pack("<Q", 7) + good[names_at + 8 :]
    _raises(bad_count, "name count differs")


def test_bad_dtype_device_and_names() -> None:
    base = params_bytes({"arg:a": np.ones(2, "f4")})
    dtype_at = 24 + 4 + 4 + 4 + 8 + 8  # header, magic, stype, ndim, dims, context
    _raises(base[:dtype_at] + struct.pack("<i", 42) + base[dtype_at + 4 :], "dtype flag")
    _raises(base[: dtype_at - 8] + struct.pack("<i", 9) + base[dtype_at - 4 :], "device type")
    bad_prefix = params_bytes({"weird:a": np.ones(2, "f4")})
    with pytest.raises(FormatError, match="unknown prefix"):
        read_ndarray_list("p.params", bad_prefix).split()
    dup = params_bytes([("arg:a", np.ones(2, "f4")), ("aux:a", np.ones(2, "f4"))])
    with pytest.raises(FormatError, match="twice"):
        read_ndarray_list("p.params", dup).split()
    utf = base[:-1] + b"\xff"
    _raises(utf, "not UTF-8")


_SAMPLE = params_bytes(_arrays(), 2)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(_SAMPLE) - 1))
def test_truncation_at_any_offset(cut: int) -> None:
    with pytest.raises(FormatError) as info:
        read_ndarray_list("cut.params", _SAMPLE[:cut])
    assert info.value.file == "cut.params"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(_SAMPLE) - 1), st.integers(0, 255))
def test_single_byte_corruption_never_crashes(where: int, value: int) -> None:
    data = bytearray(_SAMPLE)
    data[where] = value
    try:
        parsed = read_ndarray_list("x.params", bytes(data))
        parsed.split()
    except FaceportError as exc:
        assert exc.file == "x.params"


def test_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad-0000.params"
    bad.write_bytes(_SAMPLE[:100])
    with pytest.raises(FormatError):
        read_ndarray_list(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad-0000.params"]
