"""Malicious pickles never execute and zip anomalies are refused; nothing touches the disk."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from faceport.converters.s3fd.pth_reader import read_checkpoint, read_checkpoint_bytes
from faceport.errors import FormatError
from tests.converters.s3fd.s3fd_craft import (
    legacy_checkpoint,
    tensor_pickle,
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
