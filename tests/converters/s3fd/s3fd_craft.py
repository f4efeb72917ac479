"""Hand-built checkpoint containers for the reader's security and corruption tests."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

LEGACY_PREFIX = (
    pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    + pickle.dumps(1001, protocol=2)
    + pickle.dumps(
        {"protocol_version": 1001, "little_endian": True,
         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
)


def zip_checkpoint(
    pickle_bytes: bytes,
    storages: dict[str, bytes] | None = None,
    *,
    root: str = "archive",
    compression: int = zipfile.ZIP_STORED,
    extra: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """A torch-style zip: root/data.pkl, root/byteorder, root/data/<key>, root/version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr(f"{root}/data.pkl", pickle_bytes)
        archive.writestr(f"{root}/byteorder", "little")
        for key, raw in (storages or {}).items():
            archive.writestr(f"{root}/data/{key}", raw)
        archive.writestr(f"{root}/version", "3\n")
        for name, raw in extra or []:
            archive.writestr(name, raw)
    return buffer.getvalue()


def legacy_checkpoint(pickle_bytes: bytes, storages: dict[str, tuple[int, bytes]] | None = None,
                      keys: list[str] | None = None) -> bytes:
    """magic, protocol, sys_info, the object pickle, key list, then (numel, bytes) records."""
    storages = storages or {}
    order = keys if keys is not None else sorted(storages)
    body = b"".join(struct.pack("<q", storages[k][0]) + storages[k][1] for k in order)
    return LEGACY_PREFIX + pickle_bytes + pickle.dumps(order, protocol=2) + body


def tensor_pickle(key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...],
                  *, legacy: bool = False, offset: int = 0, name: str = "w") -> bytes:
    """A pickle of {name: FloatStorage tensor} with the given storage key/numel/view."""
    pid = f"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n{_str(key)}X\x03\x00\x00\x00cpu"
    pid += _int(numel) + ("N" if legacy else "") + "tQ"
    text = (
        "\x80\x02}(" + _str(name) + "ctorch._utils\n_rebuild_tensor_v2\n(" + pid + _int(offset)
        + _tuple(size) + _tuple(stride) + "\x89ccollections\nOrderedDict\n)RtRu."
    )
    return text.encode("latin-1")


def _str(value: str) -> str:
    return "X" + struct.pack("<I", len(value)).decode("latin-1") + value


def _int(value: int) -> str:
    if -(2**31) <= value < 2**31:
        return "J" + struct.pack("<i", value).decode("latin-1")
    raw = value.to_bytes(9, "little", signed=True)
    return "\x8a\x09" + raw.decode("latin-1")


def _tuple(values: tuple[int, ...]) -> str:
    return "(" + "".join(_int(v) for v in values) + "t"
