"""Truncated and corrupted checkpoints: only FaceportError ever escapes the reader."""

from __future__ import annotations

import contextlib
import io
import random
from collections import OrderedDict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceport.converters.s3fd.family import FAMILY
from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes
from faceport.converters.s3fd.safe_unpickle import unpickle
from faceport.errors import FaceportError


def _small_checkpoint(zip_format: bool) -> bytes:
    import torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    state = OrderedDict(conv.state_dict())
    state["half"] = torch.arange(5, dtype=torch.float16)
    state["view"] = torch.arange(12.0).reshape(3, 4)[:, 1:3]
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "epoch": 1}, buffer,
               _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


SAMPLES = {"zip": _small_checkpoint(True), "legacy": _small_checkpoint(False)}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_or_refuse(data: bytes) -> None:
    with contextlib.suppress(FaceportError):
        read_checkpoint_bytes(data, file="fuzz.pth")


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_samples_read(container: str) -> None:
    obj = read_checkpoint_bytes(SAMPLES[container]).obj
    assert obj["state_dict"]["weight"].shape == (4, 3, 3, 3)
    assert obj["state_dict"]["view"].tolist() == [[1, 2], [5, 6], [9, 10]]


@pytest.mark.parametrize("container", ["zip", "legacy"])
@FUZZ
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
def test_truncation(container: str, cut: float) -> None:
    data = SAMPLES[container]
    truncated = data[: int(cut * len(data))]
    with pytest.raises(FaceportError):
        read_checkpoint_bytes(truncated, file="fuzz.pth")


@pytest.mark.parametrize("container", ["zip", "legacy"])
@FUZZ
@given(data=st.data())
def test_corruption(container: str, data: st.DataObject) -> None:
    raw = bytearray(SAMPLES[container])
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)),
                               min_size=1, max_size=8))
    for index, value in flips:
        raw[index] = value
    _read_or_refuse(bytes(raw))


def test_zip_directory_corruption_sniff_and_read(tmp_path: Path) -> None:
    """Seeded flips aimed at the central directory and end record (versions, flags, methods,
    sizes, offsets, counts), where zipfile's own parse raised NotImplementedError (~2% of
    these before the fix) and a negative offset reached seek(): sniff answers a bool, the
    reader a FaceportError, never anything else."""
    rng = random.Random(0)
    base = SAMPLES["zip"]
    start = base.index(b"PK\x01\x02")  # the first central header: the whole directory
    path = tmp_path / "x.pth"
    for _ in range(1000):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            raw[rng.randrange(start, len(raw))] = rng.randrange(256)
        path.write_bytes(bytes(raw))
        assert FAMILY.sniff(path) in (True, False)
        _read_or_refuse(bytes(raw))


OPCODES = [bytes([c]) for c in b"()0125NJKMGXUTCBtlad}su]qrhjcRbQ.\x80\x85\x86\x87\x88\x89\x8a"
           b"\x8b\x8c\x8d\x8e\x93\x94\x95"]


@FUZZ
@given(parts=st.lists(st.one_of(st.sampled_from(OPCODES), st.binary(max_size=5)), max_size=60))
def test_random_pickle_streams(parts: list[bytes]) -> None:
    """Opcode soup (valid opcodes, random arguments): a FormatError or an object, nothing else."""
    with contextlib.suppress(FaceportError):
        unpickle(b"\x80\x02" + b"".join(parts))
