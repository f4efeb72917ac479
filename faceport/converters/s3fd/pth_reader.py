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
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceport.converters.s3fd.safe_unpickle import (
    STORAGE_DTYPES,
    Global,
    TensorRef,
    unpickle,
)
from faceport.errors import FaceportError, FormatError

log = logging.getLogger(__name__)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
MAX_DEPTH = 32
MAX_COPY_FACTOR = 4
_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass(frozen=True)
class StorageRef:
    """One storage a tensor views: its dtype code, key, element count, optional view."""

    dtype: str
    key: str
    numel: int
    view_offset: int = 0
    view_numel: int | None = None


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
        return _storage_ref(pid[1], pid[2], pid[4], None, refs, f"{file}:{pkl_name}", offset)

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
        nbytes = ref.numel * _itemsize(ref.dtype)
        if info.file_size != nbytes:
            raise FormatError(f"storage {key!r} size disagrees with its zip entry", file=file,
                              field=entry, expected=f"{nbytes} bytes ({ref.numel} x {ref.dtype})",
                              found=f"{info.file_size} bytes")
        arrays[key] = _to_array(_zip_read(archive, info, file), ref.dtype, byteorder)
    return Checkpoint(_materialize(obj, arrays, file), "zip", file)


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
        return _storage_ref(pid[1], pid[2], pid[4], pid[5], refs, file, offset)

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
        nbytes = numel * _itemsize(ref.dtype)
        if nbytes > len(data) - pos - 8:
            raise FormatError(f"storage {key!r} truncated", file=file, offset=pos,
                              expected=f"{nbytes} bytes", found=f"{len(data) - pos - 8} left")
        arrays[key] = _to_array(data[pos + 8 : pos + 8 + nbytes], ref.dtype, byteorder)
        pos += 8 + nbytes
    if pos != len(data):
        raise FormatError("trailing bytes after the last storage", file=file, offset=pos)
    return Checkpoint(_materialize(obj, arrays, file), "legacy", file)


# -- shared --------------------------------------------------------------------------------
def _storage_ref(
    kind: Any, key: Any, numel: Any, view: Any, refs: dict[str, StorageRef], file: str, offset: int
) -> StorageRef:
    if not (isinstance(kind, Global) and kind.module == "torch" and kind.name in STORAGE_DTYPES):
        raise FormatError("storage of unknown type", file=file, offset=offset, found=kind)
    if not isinstance(key, str) or not _KEY.match(key):
        raise FormatError("bad storage key", file=file, offset=offset, found=key)
    if not isinstance(numel, int) or isinstance(numel, bool) or not 0 <= numel < 2**48:
        raise FormatError("bad storage numel", file=file, offset=offset, found=numel)
    dtype = STORAGE_DTYPES[kind.name]
    known = refs.setdefault(key, StorageRef(dtype, key, numel))
    if known.dtype != dtype or known.numel != numel:
        raise FormatError(f"storage {key!r} declared twice differently", file=file, offset=offset)
    if view is None:
        return known
    ok = isinstance(view, tuple) and len(view) == 3 and isinstance(view[1], int) and isinstance(
        view[2], int)
    if not ok or view[1] < 0 or view[2] < 0 or view[1] + view[2] > numel:
        raise FormatError("bad storage view", file=file, offset=offset,
                          expected=f"(key, offset, size) within {numel}", found=view)
    return StorageRef(dtype, key, numel, view[1], view[2])


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


def _to_array(raw: bytes, dtype: str, byteorder: str) -> np.ndarray:
    order = "<" if byteorder == "little" else ">"
    if dtype == "bf16":
        bits = np.frombuffer(raw, dtype=f"{order}u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    if dtype == "b1":
        return np.frombuffer(raw, dtype=np.uint8).astype(bool)
    return np.frombuffer(raw, dtype=f"{order}{dtype}").astype(np.dtype(dtype).newbyteorder("="))


class _Materializer:
    """Replace every :class:`TensorRef` by an array, once per object (shared stays shared).

    Work is linear in the number of distinct objects, nesting is bounded, and the bytes of
    all tensors made are capped at :data:`MAX_COPY_FACTOR` times the storages read, so a
    small pickle cannot ask for terabytes by viewing one storage many times.
    """

    def __init__(self, arrays: dict[str, np.ndarray], file: str) -> None:
        self.arrays = arrays
        self.file = file
        self.done: dict[int, Any] = {}
        self.budget = MAX_COPY_FACTOR * sum(a.nbytes for a in arrays.values()) + (1 << 20)

    def __call__(self, obj: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise FormatError("checkpoint nested too deeply", file=self.file,
                              expected=f"<= {MAX_DEPTH} levels")
        if not isinstance(obj, (TensorRef, dict, list, tuple)):
            return obj
        key = id(obj)
        if key in self.done:
            return self.done[key]
        result: Any
        if isinstance(obj, TensorRef):
            result = self.tensor(obj)
        elif isinstance(obj, dict):
            result = {k: self(v, depth + 1) for k, v in obj.items()}
        elif isinstance(obj, list):
            result = [self(v, depth + 1) for v in obj]
        else:
            result = tuple(self(v, depth + 1) for v in obj)
        self.done[key] = result
        return result

    def tensor(self, ref: TensorRef) -> np.ndarray:
        storage = ref.storage
        if not isinstance(storage, StorageRef):
            raise FormatError("tensor built from something that is not a storage", file=self.file)
        flat = self.arrays[storage.key]
        if storage.view_numel is not None:
            flat = flat[storage.view_offset : storage.view_offset + storage.view_numel]
        count = int(np.prod(ref.size, dtype=np.int64)) if ref.size else 1
        if count == 0:
            return np.zeros(ref.size, dtype=flat.dtype)
        last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if last >= flat.size or count > flat.size:
            raise FormatError("tensor view exceeds its storage", file=self.file,
                              field=storage.key, expected=f"< {flat.size} elements",
                              found=f"offset {ref.offset}, size {ref.size}, stride {ref.stride}")
        self.budget -= count * flat.itemsize
        if self.budget < 0:
            raise FormatError("tensors repeat their storages far more than a checkpoint does",
                              file=self.file, expected=f"<= {MAX_COPY_FACTOR}x the storage bytes")
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :], shape=ref.size, strides=[s * flat.itemsize for s in ref.stride],
            writeable=False,
        )
        return np.array(view, copy=True)


def _materialize(obj: Any, arrays: dict[str, np.ndarray], file: str) -> Any:
    return _Materializer(arrays, file)(obj)
