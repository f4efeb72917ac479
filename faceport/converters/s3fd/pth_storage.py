"""Storages and tensors of a ``.pth`` checkpoint, shared by both containers of
:mod:`faceport.converters.s3fd.pth_reader`.

A persistent id names a storage (type, key, element count, optional view); the raw bytes of
each storage become one flat numpy array (``byteorder`` as the file records it, bfloat16
widened to float32); every :class:`~faceport.converters.s3fd.safe_unpickle.TensorRef` is then
replaced by a copy of its strided view, bounds-checked against its storage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceport.converters.s3fd.safe_unpickle import MAX_NUMEL, STORAGE_DTYPES, Global, TensorRef
from faceport.errors import FormatError

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



def storage_ref(
    kind: Any, key: Any, numel: Any, view: Any, refs: dict[str, StorageRef], file: str, offset: int
) -> StorageRef:
    """Validate one persistent id's fields and record its storage in ``refs`` (one per key)."""
    if not (isinstance(kind, Global) and kind.module == "torch" and kind.name in STORAGE_DTYPES):
        raise FormatError("storage of unknown type", file=file, offset=offset, found=kind)
    if not isinstance(key, str) or not _KEY.match(key):
        raise FormatError("bad storage key", file=file, offset=offset, found=key)
    if not isinstance(numel, int) or isinstance(numel, bool) or not 0 <= numel < MAX_NUMEL:
        raise FormatError("bad storage numel", file=file, offset=offset,
                          expected=f"0..{MAX_NUMEL - 1}", found=numel)
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


def itemsize(dtype: str) -> int:
    """Bytes per element of a storage dtype code (``bf16``: 2)."""
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


def to_array(raw: bytes | memoryview, dtype: str, byteorder: str) -> np.ndarray:
    """A storage's raw bytes as a flat native-order array (bfloat16 widened to float32).

    Native-order storages are returned as read-only views of ``raw`` (no copy): the tensors
    cut from them are copied once, by :func:`materialize`."""
    order = "<" if byteorder == "little" else ">"
    if dtype == "bf16":
        bits = np.frombuffer(raw, dtype=f"{order}u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    if dtype == "b1":
        return np.frombuffer(raw, dtype=np.uint8).astype(bool)
    flat = np.frombuffer(raw, dtype=f"{order}{dtype}")
    return flat.astype(np.dtype(dtype).newbyteorder("="), copy=False)


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
        count = math.prod(ref.size)  # Python ints (an int64 product wraps); size is bounded
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


def materialize(obj: Any, arrays: dict[str, np.ndarray], file: str) -> Any:
    """``obj`` with every :class:`TensorRef` replaced by an array cut from ``arrays``."""
    return _Materializer(arrays, file)(obj)
