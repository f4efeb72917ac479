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

Of :mod:`zipfile` only the central directory parse is used (:func:`zip_directory`, which
turns every exception it raises on hostile bytes into a FormatError); each entry is then
validated here in full (name, version needed, flags, method, disk, sizes, local header,
span within the file, no two spans overlapping) and read from the file's bytes directly.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
#: zip "version needed to extract": 4.5 (zip64) is the most a STORED entry needs (torch
#: writes 0); zipfile itself raises NotImplementedError above 6.3
MAX_ZIP_VERSION = 45
#: general-purpose flag bits of encryption: traditional, strong, central directory
ZIP_ENCRYPTED = 0x0001 | 0x0040 | 0x2000
_LOCAL_HEADER = 30


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
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read checkpoint: {exc.strerror}", file=name) from None
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
@dataclass(frozen=True)
class ZipEntry:
    """One validated STORED entry: its bytes are ``data[start : start + size]``."""

    name: str
    header_offset: int
    start: int
    size: int
    crc: int

    @property
    def end(self) -> int:
        return self.start + self.size


def zip_directory(source: str | os.PathLike[str] | IO[bytes],
                  file: str) -> tuple[list[zipfile.ZipInfo], int]:
    """The entries of a zip's central directory and the offset it starts at, as
    :mod:`zipfile` parses them; nothing else of zipfile is used. Its parse of hostile bytes
    raises more than BadZipFile (NotImplementedError for a version needed above 6.3,
    UnicodeDecodeError for a bad UTF-8 name, OverflowError for a zip64 offset...): every
    one is a FormatError here. The entries are not validated (:func:`check_entries` is)."""
    try:
        with zipfile.ZipFile(source) as archive:
            return archive.infolist(), archive.start_dir
    except NotImplementedError as exc:
        raise FormatError(f"zip entry needs a newer zip version to extract: {exc}", file=file,
                          field="central directory", expected=f"<= {MAX_ZIP_VERSION / 10}",
                          found=str(exc)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            OverflowError, struct.error) as exc:
        raise FormatError(f"corrupt zip container: {exc}", file=file) from None


def _read_zip(data: bytes, file: str) -> Checkpoint:
    infos, start_dir = zip_directory(io.BytesIO(data), file)
    entries = check_entries(infos, data, start_dir, file)
    roots = {name.split("/", 1)[0] for name in entries}
    if len(roots) != 1:
        raise FormatError("zip entries are not under one top-level folder", file=file,
                          found=sorted(roots)[:5])
    root = roots.pop()
    byteorder = "little"
    if f"{root}/byteorder" in entries:
        raw = bytes(_entry_bytes(data, entries[f"{root}/byteorder"], file))
        byteorder = raw.decode("ascii", "replace")
        if byteorder not in ("little", "big"):
            raise FormatError("bad byteorder record", file=file, field="byteorder",
                              expected="little or big", found=byteorder)
    pkl_name = f"{root}/data.pkl"
    if pkl_name not in entries:
        raise FormatError("zip checkpoint has no data.pkl", file=file, field=pkl_name)
    pickle_bytes = bytes(_entry_bytes(data, entries[pkl_name], file))
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
        name = f"{root}/data/{key}"
        entry = entries.get(name)
        if entry is None:
            raise FormatError(f"storage {key!r} is referenced but has no zip entry", file=file,
                              field=name)
        nbytes = ref.numel * itemsize(ref.dtype)
        if entry.size != nbytes:
            raise FormatError(f"storage {key!r} size disagrees with its zip entry", file=file,
                              field=name, expected=f"{nbytes} bytes ({ref.numel} x {ref.dtype})",
                              found=f"{entry.size} bytes")
        arrays[key] = to_array(_entry_bytes(data, entry, file), ref.dtype, byteorder)
    return Checkpoint(materialize(obj, arrays, file), "zip", file)


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return not (name.startswith("/") or "\\" in name or ".." in parts or "" in parts[:-1]
                or ":" in name or len(parts) < 2)


def check_entries(
    infos: list[zipfile.ZipInfo], data: bytes, start_dir: int, file: str
) -> dict[str, ZipEntry]:
    """Validate every central directory entry against ``data`` (the whole file) before any
    is read: a safe, unique name; version needed, flags, method and disk a STORED torch
    entry has; equal sizes; a local header inside the file, before the central directory
    (``start_dir``), naming the same file; data ending there too; no two entries' spans
    (local header to data end) overlapping."""
    entries: dict[str, ZipEntry] = {}
    for info in infos:
        name = info.filename
        if not _safe_name(name):
            raise FormatError("unsafe or unexpected zip entry name", file=file, field=name)
        if name in entries:
            raise FormatError("duplicate zip entry", file=file, field=name)
        if info.extract_version > MAX_ZIP_VERSION:
            raise FormatError("zip entry needs a newer zip version to extract", file=file,
                              field=name, expected=f"<= {MAX_ZIP_VERSION / 10}",
                              found=f"{info.extract_version / 10}")
        if info.flag_bits & ZIP_ENCRYPTED:
            raise FormatError("encrypted zip entry", file=file, field=name,
                              found=f"flags {info.flag_bits:#06x}")
        if info.compress_type != zipfile.ZIP_STORED:
            raise FormatError("compressed zip entry (torch.save writes them stored)", file=file,
                              field=name, expected="STORED", found=f"method {info.compress_type}")
        if info.volume != 0:
            raise FormatError("zip entry on another disk of a multi-disk zip", file=file,
                              field=name, expected=0, found=info.volume)
        if info.file_size != info.compress_size:
            raise FormatError("stored zip entry's sizes disagree", file=file, field=name,
                              expected=f"{info.compress_size} bytes (compressed size)",
                              found=f"{info.file_size} bytes")
        entries[name] = _local_entry(info, data, start_dir, file)
    spans = sorted(entries.values(), key=lambda e: e.header_offset)
    for before, after in itertools.pairwise(spans):
        if after.header_offset < before.end:
            raise FormatError("zip entries overlap", file=file, offset=after.header_offset,
                              field=after.name, expected=f">= {before.end} (after {before.name})",
                              found=after.header_offset)
    return entries


def _local_entry(info: zipfile.ZipInfo, data: bytes, start_dir: int, file: str) -> ZipEntry:
    """The entry's local header (in the file, before the central directory, the same name)
    and where its data lies; sizes and CRC are the central directory's (torch writes data
    descriptors: its local headers hold zeros)."""
    name, at = info.filename, info.header_offset
    if not 0 <= at <= start_dir - _LOCAL_HEADER:
        raise FormatError("zip local header offset outside the file", file=file, field=name,
                          expected=f"0..{max(start_dir - _LOCAL_HEADER, 0)}", found=at)
    header = data[at : at + _LOCAL_HEADER]
    if header[:4] != b"PK\x03\x04":
        raise FormatError("bad zip local header", file=file, offset=at, field=name,
                          expected="PK\\x03\\x04", found=header[:4])
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    local_name = data[at + _LOCAL_HEADER : at + _LOCAL_HEADER + name_len]
    if local_name != info.orig_filename.encode("utf-8", "replace") and \
            local_name != info.filename.encode("cp437", "replace"):
        raise FormatError("zip local header names another file", file=file, offset=at,
                          field=name, found=local_name[:80])
    start = at + _LOCAL_HEADER + name_len + extra_len
    end = start + info.file_size
    if end > start_dir:
        where = "past the end of the file" if end > len(data) else "into the central directory"
        raise FormatError(f"zip entry extends {where}", file=file, offset=start, field=name,
                          expected=f"<= {start_dir} bytes", found=end)
    return ZipEntry(name, at, start, info.file_size, info.CRC)


def _entry_bytes(data: bytes, entry: ZipEntry, file: str) -> memoryview:
    """A validated entry's bytes as a view into ``data`` (no copy), CRC-32 checked."""
    view = memoryview(data)[entry.start : entry.end]
    crc = zlib.crc32(view)
    if crc != entry.crc:
        raise FormatError("zip entry fails its CRC-32 check", file=file, offset=entry.start,
                          field=entry.name, expected=f"{entry.crc:08x}", found=f"{crc:08x}")
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
