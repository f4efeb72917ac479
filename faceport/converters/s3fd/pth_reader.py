"""Read a PyTorch ``.pth`` checkpoint without torch and without executing its pickle.

Two container formats exist (torch/serialization.py):

* **zip** (``torch.save`` default since 1.6): uncompressed (STORED) entries under one
  top-level folder: ``<root>/data.pkl`` (the pickle), ``<root>/data/<key>`` (one raw
  storage per key, ``numel * itemsize`` bytes), ``<root>/byteorder`` (``little``/``big``,
  absent in old files = little), plus version records. The persistent id of a storage is
  ``('storage', <StorageType>, key, location, numel)``.
* **legacy** (``_use_new_zipfile_serialization=False`` and every file before 1.6): five
  pickles back to back (magic number ``0x1950a86a20f9469cfc6c``, protocol ``1001``, a
  ``sys_info`` dict, the object, the sorted list of storage keys), then each storage as an
  int64 element count followed by its raw bytes. Its persistent id is ``('storage', type,
  root_key, location, numel, view_metadata)`` with ``view_metadata = (view_key, offset,
  size)`` in elements, or ``None``.

The older tar container (PyTorch < 0.4) is refused with a clear error. The file is read
into memory (never mmapped, never extracted); each storage's declared size is checked
against the bytes present before an array is made.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceport.converters.s3fd.pth_storage import (
    StorageRef,
    itemsize,
    materialize,
    storage_ref,
    to_array,
)
from faceport.converters.s3fd.safe_unpickle import unpickle
from faceport.errors import FaceportError, FormatError

log = logging.getLogger(__name__)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint's top-level object with every tensor as a float/int numpy array."""

    obj: Any
    container: str  # "zip" or "legacy"
    file: str


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read ``path`` (zip or legacy ``.pth``) safely; any defect is a :class:`FormatError`."""
    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise FaceportError("no such checkpoint file", file=name)
    data = p.read_bytes()
    return read_checkpoint_bytes(data, file=name)


def read_checkpoint_bytes(data: bytes, *, file: str = "<bytes>") -> Checkpoint:
    if data[:4] == b"PK\x03\x04":
        return _read_zip(data, file)
    if len(data) > 262 and data[257:262] == b"ustar":
        raise FormatError(
            "legacy tar-format checkpoint (written by PyTorch < 0.4) is not supported",
            file=file, hint="re-save it with torch.save in a PyTorch >= 1.6 environment",
        )
    if data[:1] == b"\x80":
        return _read_legacy(data, file)
    raise FormatError(
        "not a PyTorch checkpoint", file=file, offset=0, field="magic",
        expected="zip (PK\\x03\\x04) or legacy pickle (\\x80)", found=data[:4],
    )


# -- zip container -------------------------------------------------------------------------
def _read_zip(data: bytes, file: str) -> Checkpoint:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise FormatError(f"corrupt zip container: {exc}", file=file) from None
    entries = _check_entries(infos, len(data), file)
    roots = {name.split("/", 1)[0] for name in entries}
    if len(roots) != 1:
        raise FormatError("zip entries are not under one top-level folder", file=file,
                          found=sorted(roots)[:5])
    root = roots.pop()
    byteorder = "little"
    if f"{root}/byteorder" in entries:
        raw = _zip_read(archive, entries[f"{root}/byteorder"], file)
        byteorder = raw.decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise FormatError("bad byteorder record", file=file, field="byteorder",
                              expected="little or big", found=byteorder)
    pkl_name = f"{root}/data.pkl"
    if pkl_name not in entries:
        raise FormatError("zip checkpoint has no data.pkl", file=file, field=pkl_name)
    pickle_bytes = _zip_read(archive, entries[pkl_name], file)
    refs: dict[str, StorageRef] = {}

    def persistent_load(pid: Any, offset: int) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise FormatError("unexpected persistent id", file=f"{file}:{pkl_name}",
                              offset=offset, expected="('storage', type, key, location, numel)",
                              found=pid)
        return storage_ref(pid[1], pid[2], pid[4], None, refs, f"{file}:{pkl_name}", offset)

    obj, end = unpickle(pickle_bytes, persistent_load=persistent_load, file=f"{file}:{pkl_name}")
    if end != len(pickle_bytes):
        raise FormatError("trailing bytes after the pickle's STOP", file=f"{file}:{pkl_name}",
                          offset=end)
    arrays: dict[str, np.ndarray] = {}
    for key, ref in refs.items():
        entry = f"{root}/data/{key}"
        info = entries.get(entry)
        if info is None:
            raise FormatError(f"storage {key!r} is referenced but has no zip entry", file=file,
                              field=entry)
        nbytes = ref.numel * itemsize(ref.dtype)
        if info.file_size != nbytes:
            raise FormatError(f"storage {key!r} size disagrees with its zip entry", file=file,
                              field=entry, expected=f"{nbytes} bytes ({ref.numel} x {ref.dtype})",
                              found=f"{info.file_size} bytes")
        arrays[key] = to_array(_stored_entry(data, info, file), ref.dtype, byteorder)
    return Checkpoint(materialize(obj, arrays, file), "zip", file)


def _check_entries(
    infos: list[zipfile.ZipInfo], size: int, file: str
) -> dict[str, zipfile.ZipInfo]:
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.split("/")
        if (name.startswith("/") or "\\" in name or ".." in parts or "" in parts[:-1]
                or ":" in name or len(parts) < 2):
            raise FormatError("unsafe or unexpected zip entry name", file=file, field=name)
        if name in entries:
            raise FormatError("duplicate zip entry", file=file, field=name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise FormatError("compressed zip entry (torch.save writes them stored)", file=file,
                              field=name, expected="STORED", found=f"method {info.compress_type}")
        if info.flag_bits & 0x1:
            raise FormatError("encrypted zip entry", file=file, field=name)
        if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
            end = info.header_offset + info.file_size
            raise FormatError("zip entry extends past the end of the file", file=file,
                              field=name, expected=f"<= {size} bytes", found=end)
        entries[name] = info
    return entries


def _zip_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise FormatError(f"cannot read zip entry: {exc}", file=file, field=info.filename) from None


def _stored_entry(data: bytes, info: zipfile.ZipInfo, file: str) -> memoryview:
    """A STORED entry's bytes as a view into ``data`` (no copy), after the checks
    ``ZipFile.read`` makes: the local header's signature and name, and the CRC-32."""
    at = info.header_offset
    header = data[at : at + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise FormatError("bad zip local header", file=file, offset=at, field=info.filename,
                          expected="PK\\x03\\x04", found=header[:4])
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = at + 30 + name_len + extra_len
    if data[at + 30 : at + 30 + name_len] != info.orig_filename.encode("utf-8", "replace") and \
            data[at + 30 : at + 30 + name_len] != info.filename.encode("cp437", "replace"):
        raise FormatError("zip local header names another file", file=file, offset=at,
                          field=info.filename)
    if start + info.file_size > len(data):
        raise FormatError("zip entry extends past the end of the file", file=file, offset=start,
                          field=info.filename, expected=f"<= {len(data)} bytes",
                          found=start + info.file_size)
    view = memoryview(data)[start : start + info.file_size]
    if zlib.crc32(view) != info.CRC:
        raise FormatError("zip entry fails its CRC-32 check", file=file, offset=start,
                          field=info.filename, expected=f"{info.CRC:08x}",
                          found=f"{zlib.crc32(view):08x}")
    return view


# -- legacy container ----------------------------------------------------------------------
def _read_legacy(data: bytes, file: str) -> Checkpoint:
    magic, pos = unpickle(data, 0, file=file)
    if magic != LEGACY_MAGIC:
        raise FormatError("not a torch.save legacy file", file=file, offset=0, field="magic",
                          expected=hex(LEGACY_MAGIC), found=magic)
    protocol, pos = unpickle(data, pos, file=file)
    if protocol != LEGACY_PROTOCOL:
        raise FormatError("unknown legacy protocol", file=file, field="protocol",
                          expected=LEGACY_PROTOCOL, found=protocol)
    info_offset = pos
    sys_info, pos = unpickle(data, pos, file=file)
    if not isinstance(sys_info, dict):
        raise FormatError("sys_info is not a dict", file=file, offset=info_offset)
    little = sys_info.get("little_endian", True)
    if not isinstance(little, bool):
        raise FormatError("bad sys_info", file=file, field="little_endian", found=little)
    byteorder = "little" if little else "big"
    refs: dict[str, StorageRef] = {}

    def persistent_load(pid: Any, offset: int) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise FormatError("unexpected persistent id", file=file, offset=offset,
                              expected="('storage', type, key, location, numel, view)", found=pid)
        return storage_ref(pid[1], pid[2], pid[4], pid[5], refs, file, offset)

    obj, pos = unpickle(data, pos, persistent_load=persistent_load, file=file)
    keys_offset = pos
    keys, pos = unpickle(data, pos, file=file)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise FormatError("storage key list malformed", file=file, offset=keys_offset)
    if sorted(set(keys)) != sorted(refs) or len(keys) != len(refs):
        raise FormatError("storage key list disagrees with the storages the pickle uses",
                          file=file, offset=keys_offset, expected=sorted(refs)[:8],
                          found=keys[:8])
    arrays: dict[str, np.ndarray] = {}
    order = "<" if little else ">"
    for key in keys:
        ref = refs[key]
        if len(data) - pos < 8:
            raise FormatError("truncated before storage header", file=file, offset=pos, field=key)
        numel = int(np.frombuffer(data, dtype=f"{order}i8", count=1, offset=pos)[0])
        if numel != ref.numel:
            raise FormatError(f"storage {key!r} length disagrees with the pickle", file=file,
                              offset=pos, expected=ref.numel, found=numel)
        nbytes = numel * itemsize(ref.dtype)
        if nbytes > len(data) - pos - 8:
            raise FormatError(f"storage {key!r} truncated", file=file, offset=pos,
                              expected=f"{nbytes} bytes", found=f"{len(data) - pos - 8} left")
        arrays[key] = to_array(memoryview(data)[pos + 8 : pos + 8 + nbytes], ref.dtype, byteorder)
        pos += 8 + nbytes
    if pos != len(data):
        raise FormatError("trailing bytes after the last storage", file=file, offset=pos)
    return Checkpoint(materialize(obj, arrays, file), "legacy", file)
