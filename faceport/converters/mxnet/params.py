"""Reader for MXNet's NDArray-list file (``mx.nd.save``, ``<prefix>-NNNN.params``).

Layout (little-endian; MXNet ``NDArray::Save(Stream*, data, names)`` with dmlc serializers):

* ``uint64`` list magic ``0x112``, ``uint64`` reserved;
* ``uint64`` array count, then each array (``NDArray::Save``):

  - ``uint32`` magic: ``0xF993FAC9`` (v2, storage type) or ``0xF993FACA`` (v3, numpy shape
    semantics). Older files: ``0xF993FAC8`` (v1: int64 shape, no storage type) or no magic at
    all, in which case this word *is* ``ndim`` and ``ndim`` ``uint32`` dims follow.
  - v2/v3: ``int32`` storage type (0 dense; 1 row_sparse and 2 csr carry a storage shape
    and aux arrays, which faceport does not read);
  - shape (``TShape::Save``): ``int32 ndim`` then ``ndim`` ``int64`` dims. v2/v1: ``ndim
    == 0`` is an empty (``none``) array and nothing follows. v3: ``ndim == -1`` (or any dim
    ``-1``) is unknown and nothing follows; ``ndim == 0`` is a scalar;
  - context: ``int32 dev_type`` (1 cpu, 2 gpu, 3 cpu_pinned, 5 cpu_shared), ``int32 dev_id``;
  - ``int32`` dtype flag: 0 float32, 1 float64, 2 float16, 3 uint8, 4 int32, 5 int8,
    6 int64; then ``prod(shape) * itemsize`` raw bytes, C order.

* ``uint64`` name count (0 or the array count), each name ``uint64`` length + bytes. Module
  checkpoints prefix names with ``arg:`` (weights) or ``aux:`` (BatchNorm running stats).

Every count and size is checked against the bytes left before anything is allocated; arrays
are read-only ``numpy.frombuffer`` views into the file's bytes.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceport.converters.limits import SHAPE_LIMITS, shape_problem
from faceport.errors import FormatError

log = logging.getLogger(__name__)

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
MAX_NDIM = 32
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
}
DEV_TYPES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
STORAGE = {0: "default", 1: "row_sparse", 2: "csr"}


@dataclass(frozen=True)
class NDArrayList:
    """The arrays and names of one file, in file order (``None``: a saved empty array)."""

    file: str
    names: tuple[str, ...]
    arrays: tuple[np.ndarray | None, ...]
    offsets: tuple[int, ...]
    size: int

    def split(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(arg_params, aux_params)`` keyed without their ``arg:``/``aux:`` prefix.

        Names without a prefix (``gluon`` ``save_parameters``) count as ``arg``. A name seen
        twice, or an empty array where a weight belongs, is a FormatError.
        """
        args: dict[str, np.ndarray] = {}
        aux: dict[str, np.ndarray] = {}
        if not self.names and self.arrays:
            raise FormatError(
                "parameter file has arrays but no names", file=self.file, field="names"
            )
        for name, array, offset in zip(self.names, self.arrays, self.offsets, strict=True):
            kind, sep, key = name.partition(":")
            if not sep:
                kind, key = "arg", name
            if kind not in ("arg", "aux") or not key:
                raise FormatError(
                    "parameter name has an unknown prefix",
                    file=self.file,
                    field=f"names[{name!r}]",
                    expected="arg:<name> or aux:<name>",
                    found=name,
                )
            if array is None:
                raise FormatError(
                    f"parameter {name!r} is an empty (none) array", file=self.file, offset=offset
                )
            target = args if kind == "arg" else aux
            if key in args or key in aux:
                raise FormatError(
                    f"parameter {key!r} appears twice", file=self.file, field=f"names[{name!r}]"
                )
            target[key] = array
        return args, aux


class _Cursor:
    """Bounds-checked little-endian reads over ``data``; errors name file, offset and field."""

    def __init__(self, data: bytes, file: str) -> None:
        self.data = data
        self.file = file
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def fail(self, message: str, field: str, expected: object = None, found: object = None,
             offset: int | None = None) -> FormatError:
        return FormatError(
            message,
            file=self.file,
            offset=self.pos if offset is None else offset,
            field=field,
            expected=expected,
            found=found,
        )

    def take(self, count: int, field: str) -> memoryview:
        if count < 0 or count > self.left():
            raise self.fail(
                "file ends early", field, expected=f"{count} bytes", found=f"{self.left()} left"
            )
        view = memoryview(self.data)[self.pos : self.pos + count]
        self.pos += count
        return view

    def unpack(self, fmt: str, field: str) -> int:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack(fmt, self.take(size, field))
        return int(value)


def read_ndarray_list(path: str | Path, data: bytes | None = None) -> NDArrayList:
    """Parse an NDArray-list file (``data`` if given, else the bytes of ``path``)."""
    file = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise FormatError(f"cannot read parameter file: {exc.strerror}", file=file) from None
    cur = _Cursor(data, file)
    magic = cur.unpack("<Q", "list magic")
    if magic != LIST_MAGIC:
        raise cur.fail("not an MXNet NDArray file", "list magic", hex(LIST_MAGIC), hex(magic), 0)
    cur.unpack("<Q", "reserved")
    count = cur.unpack("<Q", "array count")
    if count > cur.left() // 4:  # the smallest array (legacy, ndim 0) is 4 bytes
        raise cur.fail("array count exceeds the file size", "array count",
                       f"<= {cur.left() // 4}", count, cur.pos - 8)
    arrays: list[np.ndarray | None] = []
    offsets: list[int] = []
    for index in range(count):
        offsets.append(cur.pos)
        arrays.append(_read_array(cur, f"arrays[{index}]"))
    names = _read_names(cur, count)
    if cur.left():
        log.warning("%s: %d bytes after the name list ignored", file, cur.left())
    return NDArrayList(file, names, tuple(arrays), tuple(offsets), len(data))


def _read_array(cur: _Cursor, where: str) -> np.ndarray | None:
    start = cur.pos
    magic = cur.unpack("<I", f"{where}.magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = cur.unpack("<i", f"{where}.storage_type")
        if stype != 0:
            raise cur.fail(
                f"{STORAGE.get(stype, 'unknown')} storage is not supported",
                f"{where}.storage_type",
                "0 (dense)",
                stype,
                cur.pos - 4,
            )
        dims_at = cur.pos + 4
        shape = _read_shape(cur, where, numpy_semantics=magic == V3_MAGIC)
    elif magic == V1_MAGIC:
        dims_at = cur.pos + 4
        shape = _read_shape(cur, where, numpy_semantics=False)
    elif magic <= MAX_NDIM:  # pre-v1: the word is ndim, dims are uint32
        dims_at = cur.pos
        dims = cur.take(4 * magic, f"{where}.shape.dims")
        shape = tuple(int(d) for d in struct.unpack(f"<{magic}I", dims)) if magic else None
    else:
        raise cur.fail(
            "bad NDArray magic",
            f"{where}.magic",
            f"{V2_MAGIC:#x}, {V3_MAGIC:#x}, {V1_MAGIC:#x} or a legacy ndim <= {MAX_NDIM}",
            hex(magic),
            start,
        )
    if shape is None:
        return None
    dev_type = cur.unpack("<i", f"{where}.context.dev_type")
    if dev_type not in DEV_TYPES:
        raise cur.fail("bad device type", f"{where}.context.dev_type", sorted(DEV_TYPES),
                       dev_type, cur.pos - 4)
    dev_id = cur.unpack("<i", f"{where}.context.dev_id")
    if dev_id < 0:
        raise cur.fail("negative device id", f"{where}.context.dev_id", ">= 0", dev_id,
                       cur.pos - 4)
    flag = cur.unpack("<i", f"{where}.dtype")
    dtype = DTYPES.get(flag)
    if dtype is None:
        raise cur.fail("unsupported dtype flag", f"{where}.dtype",
                       "0..6 (float32, float64, float16, uint8, int32, int8, int64)", flag,
                       cur.pos - 4)
    count = 1
    for dim in shape:
        count *= dim  # Python ints: no overflow, compared before numpy sees the shape
    nbytes = count * dtype.itemsize
    if nbytes > cur.left():
        raise cur.fail("array data runs past the end of the file", f"{where}.data",
                       f"{nbytes} bytes for shape {shape} {dtype.name}", f"{cur.left()} left")
    problem = shape_problem(shape)  # an empty shape's dims are unchecked by the bytes
    if problem is not None:
        raise cur.fail(f"implausible array shape: {problem}", f"{where}.shape.dims",
                       SHAPE_LIMITS, list(shape), dims_at)
    raw = cur.take(nbytes, f"{where}.data")
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)


def _read_shape(cur: _Cursor, where: str, *, numpy_semantics: bool) -> tuple[int, ...] | None:
    ndim = cur.unpack("<i", f"{where}.shape.ndim")
    if numpy_semantics and ndim == -1:
        return None
    if ndim < 0 or ndim > MAX_NDIM:
        raise cur.fail("bad number of dimensions", f"{where}.shape.ndim", f"0..{MAX_NDIM}", ndim,
                       cur.pos - 4)
    dims = struct.unpack(f"<{ndim}q", cur.take(8 * ndim, f"{where}.shape.dims"))
    if numpy_semantics and any(d == -1 for d in dims):
        return None
    if any(d < 0 for d in dims):
        raise cur.fail("negative dimension", f"{where}.shape.dims", ">= 0", list(dims),
                       cur.pos - 8 * ndim)
    if ndim == 0 and not numpy_semantics:
        return None
    return tuple(int(d) for d in dims)


def _read_names(cur: _Cursor, count: int) -> tuple[str, ...]:
    n_names = cur.unpack("<Q", "name count")
    if n_names not in (0, count):
        raise cur.fail("name count differs from array count", "name count", f"0 or {count}",
                       n_names, cur.pos - 8)
    names: list[str] = []
    for index in range(n_names):
        length = cur.unpack("<Q", f"names[{index}].length")
        raw = cur.take(length, f"names[{index}]")
        try:
            names.append(bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            raise cur.fail("name is not UTF-8", f"names[{index}]", found=bytes(raw[:40]),
                           offset=cur.pos - length) from None
    return tuple(names)


def load_params(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(arg_params, aux_params)`` of a checkpoint, as ``mx.model.load_checkpoint`` gives."""
    return read_ndarray_list(path).split()
