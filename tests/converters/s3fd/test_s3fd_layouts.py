"""Every real checkpoint layout (zip and legacy) reads, maps and converts to the same graph."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from faceport.converters import family, sniff
from faceport.converters.s3fd.layout import expected_shapes, map_state_dict
from faceport.converters.s3fd.pth_reader import read_checkpoint
from faceport.errors import FormatError
from tests.reference import s3fd_session
from tools.s3fd_fixtures import LAYOUTS

NAMES = [f"{layout}_{container}" for layout in LAYOUTS for container in ("zip", "legacy")]
EXPECTED_LAYOUT = {"sfd_pytorch": "sfd_pytorch", "face_alignment": "sfd_pytorch",
                   "dataparallel": "dataparallel", "state_dict": "state_dict",
                   "model_state_dict": "model_state_dict", "renamed": "key_map"}


def _flatten(obj: object, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}/"))
        return out
    return {prefix.rstrip("/"): obj}


@pytest.mark.parametrize("name", NAMES)
def test_reader_matches_torch_weights_only(name: str, s3fd_files: dict[str, Path]) -> None:
    """Our reader and torch.load(weights_only=True) see the same keys and identical bytes."""
    import torch

    path = s3fd_files[name]
    ours = _flatten(read_checkpoint(path).obj)
    theirs = _flatten(torch.load(path, weights_only=True, map_location="cpu"))
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        if isinstance(value, torch.Tensor):
            mine = ours[key]
            assert isinstance(mine, np.ndarray) and mine.dtype == np.float32, key
            np.testing.assert_array_equal(mine, value.numpy(), err_msg=key)
        else:
            assert ours[key] == value, key


@pytest.mark.parametrize("name", NAMES)
def test_layout_converts_to_canonical_graph(name: str, s3fd_weights: dict[str, np.ndarray]) -> None:
    graph = s3fd_session.converted(name)
    canonical = s3fd_session.converted(s3fd_session.CANONICAL)
    assert graph.meta["layout"] == EXPECTED_LAYOUT[name.rsplit("_", 1)[0]]
    assert graph.meta["container"] == name.rsplit("_", 1)[1]
    assert graph.same_structure(canonical)
    assert sorted(graph.params) == sorted(s3fd_weights)
    for key, value in s3fd_weights.items():
        assert np.array_equal(graph.params[key], value), key
    assert graph.param_count() == 22_459_110


def test_sniff(s3fd_files: dict[str, Path], tmp_path: Path) -> None:
    for name in ("sfd_pytorch_zip", "sfd_pytorch_legacy"):
        assert sniff(s3fd_files[name]).name == "s3fd"
    other = tmp_path / "not_a_model.pth"
    other.write_bytes(b"\x89PNG\r\n" + b"\0" * 64)
    assert not family("s3fd").sniff(other)


def test_renamed_without_key_map_lists_keys(s3fd_files: dict[str, Path]) -> None:
    with pytest.raises(FormatError) as info:
        family("s3fd").convert(s3fd_files["renamed_zip"])
    text = str(info.value)
    assert "65 missing" in text and "65 unexpected" in text
    for key in expected_shapes():  # every missing canonical name, and its renamed twin
        assert key in text
        assert "detector.backbone." + key.replace("_", ".") in text


def _state(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in weights.items()}


def test_missing_and_unexpected_keys_are_named(s3fd_weights: dict[str, np.ndarray]) -> None:
    state = _state(s3fd_weights)
    del state["conv4_3_norm.weight"]
    state["extra_head.weight"] = np.zeros(3, np.float32)
    with pytest.raises(FormatError) as info:
        map_state_dict(state, file="x.pth")
    assert "1 missing [conv4_3_norm.weight]" in str(info.value)
    assert "1 unexpected [extra_head.weight]" in str(info.value)
    state["conv4_3_norm.weight"] = s3fd_weights["conv4_3_norm.weight"]
    mapped = map_state_dict(state, file="x.pth", strict=False)
    assert "extra_head.weight" not in mapped.params


def test_wrong_shape_is_named(s3fd_weights: dict[str, np.ndarray]) -> None:
    state = _state(s3fd_weights)
    state["fc7.weight"] = state["fc7.weight"][:512]
    shapes = r"fc7\.weight.*\(1024, 1024, 1, 1\).*\(512, 1024, 1, 1\)"
    with pytest.raises(FormatError, match=shapes):
        map_state_dict(state, file="x.pth")


def test_whole_key_map(s3fd_weights: dict[str, np.ndarray]) -> None:
    state = _state(s3fd_weights)
    state["my.first.conv.w"] = state.pop("conv1_1.weight")
    mapped = map_state_dict(state, file="x.pth", key_map={"my.first.conv.w": "conv1_1.weight"})
    assert mapped.source_keys["conv1_1.weight"] == "my.first.conv.w"
    assert set(mapped.params) == set(expected_shapes())


def test_unknown_option_is_refused(s3fd_files: dict[str, Path]) -> None:
    from faceport.errors import FaceportError

    with pytest.raises(FaceportError, match="unknown S3FD conversion options"):
        family("s3fd").convert(s3fd_files["sfd_pytorch_zip"], keymap={})


def test_graph_survives_serialization(tmp_path: Path) -> None:
    from faceport import serialize

    graph = s3fd_session.converted(s3fd_session.CANONICAL)
    again = serialize.load(serialize.save(graph, tmp_path / "s3fd.safetensors"))
    assert again.same_structure(graph)
    assert all(np.array_equal(again.params[k], v) for k, v in graph.params.items())


def test_bytes_roundtrip_small_torch_save() -> None:
    """A tensor dtype mix torch.save writes reads back identically (bf16 widened to fp32)."""
    import torch

    from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes

    state = {"f16": torch.arange(4, dtype=torch.float16), "bf16": torch.tensor([1.5, -2.25],
             dtype=torch.bfloat16), "i64": torch.arange(3), "t": torch.arange(6.0).view(2, 3).t(),
             "b": torch.tensor([True, False])}
    for zip_format in (True, False):
        buffer = io.BytesIO()
        torch.save(state, buffer, _use_new_zipfile_serialization=zip_format)
        obj = read_checkpoint_bytes(buffer.getvalue()).obj
        for key, tensor in state.items():
            np.testing.assert_array_equal(obj[key], tensor.float().numpy() if key == "bf16"
                                          else tensor.numpy(), err_msg=key)


@pytest.mark.parametrize("name", ["sfd_pytorch_zip", "face_alignment_legacy"])
@pytest.mark.parametrize("fraction", [0.0001, 0.5, 0.9999])
def test_truncated_real_checkpoint(
    name: str, fraction: float, s3fd_files: dict[str, Path]
) -> None:
    """A cut in the pickle, mid-storage or in the last bytes: a FormatError naming the file."""
    from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes

    data = s3fd_files[name].read_bytes()
    with pytest.raises(FormatError, match=r"cut\.pth"):
        read_checkpoint_bytes(data[: int(len(data) * fraction)], file="cut.pth")


def test_zip_storage_crc_and_big_endian_and_writable() -> None:
    """Storages are read as views (no copy) but still CRC-checked; tensors come out as
    writable native-order copies, big-endian storages included."""
    import torch

    from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes
    from faceport.errors import FormatError

    state = {"w": torch.arange(64.0).view(8, 8), "half": torch.arange(16.0)[4:12]}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    obj = read_checkpoint_bytes(data).obj
    assert obj["w"].flags.writeable and obj["w"].dtype == np.float32
    np.testing.assert_array_equal(obj["half"], np.arange(4.0, 12.0, dtype=np.float32))
    at = data.find(np.arange(64.0, dtype=np.float32)[10:14].tobytes())
    assert at > 0
    bad = bytearray(data)
    bad[at] ^= 0x40
    with pytest.raises(FormatError, match="CRC-32"):
        read_checkpoint_bytes(bytes(bad))
    from faceport.converters.s3fd.pth_storage import to_array

    big = np.arange(5, dtype=">f4").tobytes()
    out = to_array(big, "f4", "big")
    assert out.dtype == np.dtype("=f4")
    np.testing.assert_array_equal(out, np.arange(5, dtype=np.float32))
