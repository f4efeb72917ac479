"""Malicious pickles never execute and zip anomalies are refused; nothing touches the disk."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from faceport.converters.s3fd.family import FAMILY
from faceport.converters.s3fd.pth_reader import read_checkpoint, read_checkpoint_bytes
from faceport.errors import FormatError
from tests.converters.s3fd.s3fd_craft import (
    central_headers,
    legacy_checkpoint,
    local_header,
    patch_central,
    patch_end,
    tensor_pickle,
    with_zip64_end,
    zip_checkpoint,
)


def _payloads(sentinel: Path) -> dict[str, bytes]:
    """Pickles that create ``sentinel`` when loaded by pickle.loads."""
    cmd = f"touch {sentinel}"

    class ViaSystem:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (cmd,))

    class ViaEval:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (eval, (f"__import__('os').system({cmd!r})",))

    quoted = cmd.encode()
    return {
        "GLOBAL+REDUCE os.system (protocol 2)": pickle.dumps({"w": ViaSystem()}, protocol=2),
        "STACK_GLOBAL+REDUCE os.system (protocol 4)": pickle.dumps(ViaSystem(), protocol=4),
        "builtins.eval": pickle.dumps(ViaEval(), protocol=2),
        "INST os.system": b"(S'" + quoted + b"'\nios\nsystem\n.",
        "OBJ os.system": b"(cos\nsystem\nS'" + quoted + b"'\no.",
        "importlib.import_module then getattr": (
            b"\x80\x02cbuiltins\ngetattr\n(cimportlib\nimport_module\nX\x02\x00\x00\x00os"
            b"\x85RX\x06\x00\x00\x00system\x86R(X" + len(quoted).to_bytes(4, "little")
            + quoted + b"tR."
        ),
        "memo smuggling: allowed global memoised, then os.system": (
            b"\x80\x02ccollections\nOrderedDict\nq\x00cos\nsystem\nq\x00h\x00(X"
            + len(quoted).to_bytes(4, "little") + quoted + b"tR."
        ),
        "BUILD with __setstate__-style state on OrderedDict": (
            b"\x80\x02ccollections\nOrderedDict\n)R(N}X\x0b\x00\x00\x00__setstate__cos\nsystem\n"
            b"stb."
        ),
    }


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def test_payloads_are_live(sentinel: Path) -> None:
    """Control: plain pickle really runs the first payload (so the tests below can fail)."""
    payload = _payloads(sentinel)["GLOBAL+REDUCE os.system (protocol 2)"]
    pickle.loads(payload)
    assert sentinel.exists()


@pytest.mark.parametrize("container", ["zip", "legacy"])
@pytest.mark.parametrize("name", list(_payloads(Path("x"))))
def test_malicious_pickle_never_runs(
    name: str, container: str, sentinel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = _payloads(sentinel)[name]
    data = zip_checkpoint(payload) if container == "zip" else legacy_checkpoint(payload)
    path = tmp_path / "evil.pth"
    path.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(FormatError) as info:
        read_checkpoint(path)
    assert not sentinel.exists()
    assert sorted(os.listdir(tmp_path)) == before  # nothing extracted or written
    assert "evil.pth" in str(info.value)


def test_disallowed_torch_global_is_named() -> None:
    data = zip_checkpoint(b"\x80\x02ctorch.nn.modules.conv\nConv2d\n)R.")
    with pytest.raises(FormatError, match=r"torch\.nn\.modules\.conv\.Conv2d"):
        read_checkpoint_bytes(data)


def test_memo_read_before_write() -> None:
    with pytest.raises(FormatError, match="memo read before write"):
        read_checkpoint_bytes(zip_checkpoint(b"\x80\x02h\x05."))


def test_build_with_slot_state_is_refused() -> None:
    """BUILD may only attach a dict (a state dict's _metadata), never (state, slotstate)."""
    with pytest.raises(FormatError, match="BUILD"):
        read_checkpoint_bytes(zip_checkpoint(b"\x80\x02ccollections\nOrderedDict\n)RN}\x86b."))


def test_persistent_id_must_be_a_storage() -> None:
    with pytest.raises(FormatError, match="persistent id"):
        read_checkpoint_bytes(zip_checkpoint(b"\x80\x02X\x01\x00\x00\x00aQ."))


RAW = np.arange(6, dtype="<f4").tobytes()
GOOD_PICKLE = tensor_pickle("0", 6, (2, 3), (3, 1))


def test_crafted_checkpoint_reads() -> None:
    """The well-formed baseline the anomalies below are made from."""
    obj = read_checkpoint_bytes(zip_checkpoint(GOOD_PICKLE, {"0": RAW})).obj
    np.testing.assert_array_equal(obj["w"], np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize(
    ("label", "data", "message"),
    [
        ("compressed entry",
         zip_checkpoint(GOOD_PICKLE, {"0": RAW}, compression=zipfile.ZIP_DEFLATED), "compressed"),
        ("dot-dot name", zip_checkpoint(GOOD_PICKLE, {"0": RAW}, extra=[("archive/../x", b"1")]),
         "unsafe"),
        ("absolute name", zip_checkpoint(GOOD_PICKLE, {"0": RAW}, extra=[("/etc/x", b"1")]),
         "unsafe"),
        ("two roots", zip_checkpoint(GOOD_PICKLE, {"0": RAW}, extra=[("other/x", b"1")]),
         "one top-level"),
        ("storage shorter than declared", zip_checkpoint(GOOD_PICKLE, {"0": RAW[:-4]}),
         "size disagrees"),
        ("storage longer than declared", zip_checkpoint(GOOD_PICKLE, {"0": RAW + RAW}),
         "size disagrees"),
        ("storage entry missing", zip_checkpoint(GOOD_PICKLE, {}), "no zip entry"),
        ("view past the storage",
         zip_checkpoint(tensor_pickle("0", 6, (2, 4), (4, 1)), {"0": RAW}), "exceeds"),
        ("overlapping expansion",
         zip_checkpoint(tensor_pickle("0", 6, (1000,), (0,)), {"0": RAW}), "exceeds"),
        ("bare zip magic", b"PK\x03\x04", "corrupt zip"),
    ],
)
def test_zip_anomalies(label: str, data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_checkpoint_bytes(data, file=label)


def test_duplicate_entries() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name"
        data = zip_checkpoint(GOOD_PICKLE, {"0": RAW}, extra=[("archive/data/0", RAW)])
    with pytest.raises(FormatError, match="duplicate"):
        read_checkpoint_bytes(data)


GOOD_ZIP = zip_checkpoint(GOOD_PICKLE, {"0": RAW})
PKL = "archive/data.pkl"


def _overlapping() -> bytes:
    """archive/data/1's central entry points inside archive/data/0's bytes, where a valid
    local header and the same payload (so the CRC holds) sit: two entries, one span."""
    inner = local_header("archive/data/1", RAW)
    data = zip_checkpoint(tensor_pickle("0", len(inner) // 4, (len(inner) // 4,), (1,)),
                          {"0": inner, "1": RAW})
    local = struct.unpack_from("<I", data, central_headers(data)["archive/data/0"] + 42)[0]
    inner_at = local + 30 + sum(struct.unpack_from("<HH", data, local + 26))  # its data
    assert data[inner_at : inner_at + 4] == b"PK\x03\x04"
    return patch_central(data, "archive/data/1", header_offset=inner_at)


ZIP_DIRECTORY_CASES = [
    # the fuzzer's finds: NotImplementedError from zipfile (also out of sniff), and a
    # negative local-header offset that reached seek() (OverflowError)
    ("version 10.8", patch_central(GOOD_ZIP, PKL, version_needed=108), "version", None),
    ("zip64 directory far past the end", with_zip64_end(GOOD_ZIP, 2**64 - 1), "offset", PKL),
    ("version 5.1", patch_central(GOOD_ZIP, PKL, version_needed=51), "version", PKL),
    ("negative header offset",
     patch_end(GOOD_ZIP, cd_offset=central_headers(GOOD_ZIP)[PKL] + 1000), "offset", PKL),
    ("header offset past the end",
     patch_central(GOOD_ZIP, "archive/data/0", header_offset=len(GOOD_ZIP)), "offset",
     "archive/data/0"),
    ("header offset at the central directory",
     patch_central(GOOD_ZIP, "archive/data/0", header_offset=central_headers(GOOD_ZIP)[PKL]),
     "local header", "archive/data/0"),
    ("method 99", patch_central(GOOD_ZIP, PKL, method=99), "method", PKL),
    ("sizes disagree", patch_central(GOOD_ZIP, "archive/data/0", compressed_size=4), "size",
     "archive/data/0"),
    ("size past the end", patch_central(GOOD_ZIP, "archive/data/0", size=2**31,
                                        compressed_size=2**31), "past the end", "archive/data/0"),
    ("second disk", patch_central(GOOD_ZIP, PKL, disk=1), "disk", PKL),
    ("strong encryption", patch_central(GOOD_ZIP, PKL, flags=0x40), "encrypted", PKL),
    ("overlapping entries", _overlapping(), "overlap", "archive/data/1"),
]


@pytest.mark.parametrize(("label", "data", "message", "field"), ZIP_DIRECTORY_CASES,
                         ids=[c[0] for c in ZIP_DIRECTORY_CASES])
def test_zip_directory_anomalies(label: str, data: bytes, message: str,
                                 field: str | None) -> None:
    with pytest.raises(FormatError, match=message) as info:
        read_checkpoint_bytes(data, file=label)
    assert info.value.file == label
    if field is not None:
        assert info.value.field == field, str(info.value)


@pytest.mark.parametrize(("label", "data", "message", "field"), ZIP_DIRECTORY_CASES,
                         ids=[c[0] for c in ZIP_DIRECTORY_CASES])
def test_sniff_and_read_checkpoint_never_raise_another_error(
    tmp_path: Path, label: str, data: bytes, message: str, field: str | None
) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(data)
    assert FAMILY.sniff(path) in (True, False)
    with pytest.raises(FormatError):
        read_checkpoint(path)


def test_sniff_refuses_a_zip_it_cannot_list(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(patch_central(GOOD_ZIP, PKL, version_needed=108))
    assert FAMILY.sniff(path) is False
    path.write_bytes(GOOD_ZIP)
    assert FAMILY.sniff(path) is True


@pytest.mark.parametrize(
    ("size", "stride", "field"),
    [
        ((2**32, 2**32), (0, 0), "size"),  # int64 product wrapped to 0 -> np.zeros(huge)
        ((2**62, 3), (0, 0), "size"),  # wrapped negative: past the copy budget too
        ((0, 2**62, 2**62), (1, 1, 1), "size"),  # empty, yet numpy refuses the shape
        ((0, 2**100), (1, 1), "size"),  # np.prod: OverflowError
        ((2**64,), (0,), "size"),
        ((1,), (2**70,), "stride"),  # as_strided: OverflowError
        ((1, 1), (2**61, 1), "stride"),
        ((2,), (1,), "offset"),
    ],
)
def test_hostile_tensor_geometry(size: tuple[int, ...], stride: tuple[int, ...],
                                 field: str) -> None:
    offset = 2**62 if field == "offset" else 0
    data = zip_checkpoint(tensor_pickle("0", 6, size, stride, offset=offset), {"0": RAW})
    with pytest.raises(FormatError, match="tensor") as info:
        read_checkpoint_bytes(data, file="t.pth")
    assert info.value.field == field and info.value.offset is not None, str(info.value)


def test_empty_and_size_one_tensors_still_read() -> None:
    data = zip_checkpoint(tensor_pickle("0", 6, (0, 2**20), (2**20, 1)), {"0": RAW})
    assert read_checkpoint_bytes(data).obj["w"].shape == (0, 2**20)
    data = zip_checkpoint(tensor_pickle("0", 6, (1, 3), (6, 1), offset=3), {"0": RAW})
    assert read_checkpoint_bytes(data).obj["w"].tolist() == [[3, 4, 5]]


LEGACY_PICKLE = tensor_pickle("0", 6, (2, 3), (3, 1), legacy=True)


@pytest.mark.parametrize(
    ("label", "data", "message"),
    [
        ("good control", legacy_checkpoint(LEGACY_PICKLE, {"0": (6, RAW)}), None),
        ("truncated storage", legacy_checkpoint(LEGACY_PICKLE, {"0": (6, RAW)})[:-3], "truncated"),
        ("numel disagrees", legacy_checkpoint(LEGACY_PICKLE, {"0": (7, RAW + RAW[:4])}),
         "disagrees"),
        ("huge numel", legacy_checkpoint(tensor_pickle("0", 2**40, (2,), (1,), legacy=True),
                                         {"0": (2**40, RAW)}), "truncated"),
        ("key list lies", legacy_checkpoint(LEGACY_PICKLE, {"0": (6, RAW)}, keys=[]), "key list"),
        ("trailing bytes", legacy_checkpoint(LEGACY_PICKLE, {"0": (6, RAW)}) + b"x", "trailing"),
        ("tar container", b"\0" * 257 + b"ustar" + b"\0" * 600, "tar-format"),
        ("not a checkpoint", b"GIF89a" + b"\0" * 100, "not a PyTorch checkpoint"),
    ],
)
def test_legacy_anomalies(label: str, data: bytes, message: str | None) -> None:
    if message is None:
        obj = read_checkpoint_bytes(data, file=label).obj
        assert obj["w"].shape == (2, 3)
        return
    with pytest.raises(FormatError, match=message):
        read_checkpoint_bytes(data, file=label)
