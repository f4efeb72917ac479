"""Hand-built checkpoint containers for the reader's security and corruption tests."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib

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
    size = max(9, (value.bit_length() + 8) // 8)  # LONG1: one length byte, then the bytes
    raw = value.to_bytes(size, "little", signed=True)
    return "\x8a" + chr(size) + raw.decode("latin-1")


def _tuple(values: tuple[int, ...]) -> str:
    return "(" + "".join(_int(v) for v in values) + "t"


# -- zip directory surgery (APPNOTE.TXT 4.3.7 local header, 4.3.12 central header, 4.3.16 end)
LOCAL = "<4sHHHHHIIIHH"  # signature, version needed, flags, method, time, date, crc, sizes, lens
CENTRAL_FIELDS = {"version_needed": (6, "<H"), "flags": (8, "<H"), "method": (10, "<H"),
                  "compressed_size": (20, "<I"), "size": (24, "<I"), "disk": (34, "<H"),
                  "header_offset": (42, "<I")}
END_FIELDS = {"entries_this_disk": (8, "<H"), "entries": (10, "<H"), "cd_size": (12, "<I"),
              "cd_offset": (16, "<I")}


def _end(data: bytes) -> int:
    return data.rindex(b"PK\x05\x06")


def central_headers(data: bytes) -> dict[str, int]:
    """Name -> offset of that entry's central directory header, in directory order."""
    at = struct.unpack_from("<I", data, _end(data) + 16)[0]
    out = {}
    while data[at : at + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        out[data[at + 46 : at + 46 + name_len].decode()] = at
        at += 46 + name_len + extra_len + comment_len
    return out


def patch_central(data: bytes, name: str, **fields: int) -> bytes:
    """``data`` with fields (see CENTRAL_FIELDS) of ``name``'s central header replaced."""
    out = bytearray(data)
    at = central_headers(data)[name]
    for field, value in fields.items():
        offset, fmt = CENTRAL_FIELDS[field]
        struct.pack_into(fmt, out, at + offset, value)
    return bytes(out)


def patch_end(data: bytes, **fields: int) -> bytes:
    out = bytearray(data)
    for field, value in fields.items():
        offset, fmt = END_FIELDS[field]
        struct.pack_into(fmt, out, _end(data) + offset, value)
    return bytes(out)


def with_zip64_end(data: bytes, cd_offset: int) -> bytes:
    """``data`` with a zip64 end record and locator before its end record, claiming the
    central directory at ``cd_offset`` (8 bytes: zipfile then trusts that over the end)."""
    end = _end(data)
    entries, cd_size = struct.unpack_from("<HI", data, end + 10)
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                         cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    return data[:end] + record + locator + data[end:]


def local_header(name: str, payload: bytes) -> bytes:
    """A STORED local header for ``name`` (sizes and CRC filled in), then ``payload``."""
    raw = name.encode()
    return struct.pack(LOCAL, b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(payload),
                       len(payload), len(payload), len(raw), 0) + raw + payload
