"""dlib's serialization primitives (``dlib/serialize.h``, ``dlib/float_details.h``,
``dlib/cuda/tensor.h``), read from an in-memory buffer without dlib.

Wire format, as dlib writes it:

* **integers** (``pack_int``): one size byte, then ``size`` little-endian magnitude bytes.
  Bit 0x80 of the size byte is the sign (signed types only); bits 0x70 are reserved and
  masked out; a size of 0 or larger than ``sizeof(T)`` is invalid.
* **bool**: one ASCII byte, ``'1'`` or ``'0'``; anything else is invalid.
* **floating point** (float, double): ``float_details``: an int64 mantissa then an int16
  exponent, both ``pack_int``; the value is ``mantissa * 2**exponent`` except for the
  exponent codes 32000 (+inf), 32001 (-inf) and 32002 (NaN). dlib reads other exponents
  >= 32000 as NaN; we reject them as corruption.
* **std::string**: ``pack_int`` length (unsigned long) then the raw bytes.
* **tensor** (``resizable_tensor``): int version, then num_samples, k, nr, nc (long);
  version 2 stores ``n*k*nr*nc`` raw little-endian float32, version 1 stores that many
  dlib-serialized floats.
* **alias_tensor**: int version (1), then num_samples, k, nr, nc (long); no data.

Every read is bounds-checked against the bytes left *before* anything is allocated, and
every failure is a :class:`~faceport.errors.FormatError` naming the file, the byte offset
and the field being read.
"""

from __future__ import annotations

import math

import numpy as np

from faceport.converters.limits import SHAPE_LIMITS, shape_problem
from faceport.errors import FormatError

FLOAT_INF, FLOAT_NINF, FLOAT_NAN = 32000, 32001, 32002
MAX_STRING = 4096  # the longest string any dlib DNN object writes is far shorter
_MIN_DLIB_FLOAT_BYTES = 4  # pack_int(mantissa) + pack_int(exponent), 2 bytes each at least


class BinaryReader:
    """A cursor over dlib-serialized bytes; ``pos`` is the next byte offset."""

    def __init__(self, data: bytes | bytearray | memoryview, file: str) -> None:
        self.view = memoryview(data).cast("B")
        self.file = file
        self.pos = 0
        self.size = len(self.view)

    # -- errors -------------------------------------------------------------------------
    def error(
        self,
        message: str,
        *,
        field: str,
        offset: int | None = None,
        expected: object = None,
        found: object = None,
        hint: str | None = None,
    ) -> FormatError:
        return FormatError(
            message,
            file=self.file,
            offset=self.pos if offset is None else offset,
            field=field,
            expected=expected,
            found=found,
            hint=hint,
        )

    @property
    def left(self) -> int:
        return self.size - self.pos

    def need(self, count: int, field: str) -> None:
        """Raise unless ``count`` bytes are left (checked before any allocation)."""
        if count < 0 or count > self.left:
            raise self.error(
                "unexpected end of file" if count >= 0 else "negative byte count",
                field=field,
                expected=f"{count} bytes",
                found=f"{self.left} bytes left",
            )

    def take(self, count: int, field: str) -> memoryview:
        self.need(count, field)
        chunk = self.view[self.pos : self.pos + count]
        self.pos += count
        return chunk

    # -- integers -----------------------------------------------------------------------
    def _pack_int(self, field: str, max_size: int, signed: bool) -> int:
        # the hot path of the reader (tens of thousands of headers in a ResNet): plain
        # indexing, one bounds check per part, errors built only when raised
        start = self.pos
        if start >= self.size:
            self.need(1, field)
        head = self.view[start] & 0x8F
        negative = head & 0x80
        size = head & 0x0F
        if 0 < size <= max_size and (signed or not negative):
            end = start + 1 + size
            if end > self.size:
                self.pos = start + 1
                self.need(size, field)
            value = int.from_bytes(self.view[start + 1 : end], "little")
            self.pos = end
            return -value if negative else value
        self.pos = start + 1
        if negative and not signed:
            raise self.error(
                "negative value for an unsigned integer", field=field, offset=start,
                expected="size byte without sign bit 0x80", found=hex(head),
            )
        raise self.error(
            "corrupted integer size byte", field=field, offset=start,
            expected=f"1..{max_size} bytes", found=size,
        )

    def read_int(self, field: str, max_size: int = 8) -> int:
        """A signed ``pack_int`` (``max_size`` = sizeof the C++ type: int 4, long 8)."""
        return self._pack_int(field, max_size, signed=True)

    def read_uint(self, field: str, max_size: int = 8) -> int:
        """An unsigned ``pack_int`` (unsigned long, size_t: 8; unsigned int: 4)."""
        return self._pack_int(field, max_size, signed=False)

    def read_bool(self, field: str) -> bool:
        start = self.pos
        ch = self.take(1, field)[0]
        if ch not in (0x30, 0x31):
            raise self.error(
                "corrupted bool", field=field, offset=start, expected="'0' or '1'", found=hex(ch)
            )
        return ch == 0x31

    # -- floats -------------------------------------------------------------------------
    def read_float(self, field: str, single: bool = False) -> float:
        """A dlib ``float_details`` value; ``single`` rounds it like dlib's ``(float)``."""
        start = self.pos
        mantissa = self.read_int(field + ".mantissa", 8)
        exponent = self.read_int(field + ".exponent", 2)
        if exponent == FLOAT_INF:
            return math.inf
        if exponent == FLOAT_NINF:
            return -math.inf
        if exponent == FLOAT_NAN:
            return math.nan
        if exponent > FLOAT_NAN:
            raise self.error(
                "corrupted float exponent", field=field, offset=start,
                expected="< 32000 or one of 32000/32001/32002", found=exponent,
            )
        try:
            value = math.ldexp(float(mantissa), exponent)
        except OverflowError:
            raise self.error(
                "float out of range", field=field, offset=start,
                expected="a finite double", found=f"{mantissa} * 2**{exponent}",
            ) from None
        return float(np.float32(value)) if single else value

    # -- strings ------------------------------------------------------------------------
    def read_string(self, field: str, max_len: int = MAX_STRING) -> str:
        start = self.pos
        length = self.read_uint(field + ".length")
        if length > max_len:
            raise self.error(
                "string too long", field=field, offset=start,
                expected=f"<= {max_len} bytes", found=length,
            )
        raw = bytes(self.take(length, field))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.error(
                "string is not ASCII", field=field, offset=start, expected="ASCII", found=raw[:40]
            ) from None

    def peek_string(self, max_len: int = 64) -> str | None:
        """The string at ``pos`` if one parses there (printable ASCII), else None; no move."""
        start = self.pos
        try:
            text = self.read_string("peek", max_len)
        except FormatError:
            return None
        finally:
            self.pos = start
        return text if text.isprintable() else None

    # -- tensors ------------------------------------------------------------------------
    def _dims(self, field: str, start: int) -> tuple[int, int, int, int]:
        dims = tuple(self.read_int(f"{field}.{name}") for name in ("num_samples", "k", "nr", "nc"))
        if any(d < 0 for d in dims):
            raise self.error("negative tensor dimension", field=field, expected=">= 0", found=dims)
        # bounded even when the tensor is empty: an alias's dims become a params shape
        problem = shape_problem(dims)
        if problem is not None:
            raise self.error(f"implausible tensor shape: {problem}", field=field, offset=start,
                             expected=SHAPE_LIMITS, found=dims)
        return dims  # type: ignore[return-value]

    def read_tensor(
        self, field: str, keep: bool = True
    ) -> tuple[tuple[int, ...], np.ndarray | None]:
        """A ``resizable_tensor``: its (n, k, nr, nc) and, if ``keep``, a float32 copy of its
        data (flat); with ``keep=False`` the data is skipped without being allocated."""
        start = self.pos
        version = self.read_int(field + ".version", 4)
        if version not in (1, 2):
            raise self.error(
                "unknown tensor version", field=field, offset=start, expected=[1, 2], found=version
            )
        dims = self._dims(field, start)
        count = dims[0] * dims[1] * dims[2] * dims[3]  # Python ints: no overflow
        per = 4 if version == 2 else _MIN_DLIB_FLOAT_BYTES
        if count > self.left // per:
            raise self.error(
                "tensor larger than the rest of the file", field=field, offset=start,
                expected=f"<= {self.left // per} values", found=f"{count} values {dims}",
            )
        if version == 2:
            if not keep:
                self.take(4 * count, field)
                return dims, None
            data = np.frombuffer(self.take(4 * count, field), dtype="<f4").astype(np.float32)
            return dims, data
        # Version 1 (dlib before 2016): one float_details per value.
        values = [self.read_float(f"{field}[{i}]", single=True) for i in range(count)]
        return dims, (np.asarray(values, dtype=np.float32) if keep else None)

    def read_alias_tensor(self, field: str) -> tuple[int, int, int, int]:
        start = self.pos
        version = self.read_int(field + ".version", 4)
        if version != 1:
            raise self.error(
                "unknown alias_tensor version", field=field, offset=start, expected=1, found=version
            )
        return self._dims(field, start)
