"""A restricted pickle interpreter for PyTorch checkpoints: data in, never code.

``pickle.load`` executes whatever a stream's ``GLOBAL``/``REDUCE``/``INST``/``BUILD``
opcodes name. This module does not use :mod:`pickle` at all: it walks the opcode stream
itself (opcode semantics as documented in CPython's ``pickletools``) and understands only
what ``torch.save`` of a state dict emits:

* containers and primitives (``dict``/``list``/``tuple``/``str``/``bytes``/``int``/``float``/
  ``bool``/``None``), the memo (``PUT``/``GET``/``MEMOIZE``) and framing;
* ``GLOBAL``/``STACK_GLOBAL`` only for the names in :data:`ALLOWED_GLOBALS`, which resolve
  to inert :class:`Global` markers, never to Python objects;
* ``REDUCE`` only on ``collections.OrderedDict`` (an empty or pair-list dict) and the
  tensor rebuild functions (which yield a :class:`TensorRef` description);
* ``BUILD`` only to attach a state dict's ``_metadata`` (a dict), which is dropped;
* ``BINPERSID`` handed to the caller's ``persistent_load`` (storage references).

Everything else (``INST``, ``OBJ``, ``NEWOBJ``, extension codes, buffers, any other global)
is a :class:`FormatError` naming the byte offset and opcode. Every length read from the
stream is checked against the bytes left before anything is allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faceport.converters.limits import SHAPE_LIMITS, shape_problem
from faceport.converters.s3fd.safe_unpickle_ops import (
    MARK,
    OPS,
    STOP,
    opcode_name,
)
from faceport.errors import FaceportError, FormatError

#: (module, name) pairs a checkpoint may reference; storage classes map to numpy dtypes.
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "BFloat16Storage": "bf16",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
}
REBUILDERS = ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter")
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("collections", "OrderedDict")}
    | {("torch._utils", name) for name in REBUILDERS}
    | {("torch", name) for name in STORAGE_DTYPES}
)
MAX_TEXT_LINE = 256  # protocol-0 GLOBAL / PUT / GET argument lines
MAX_NDIM = 16
#: the most elements a storage may hold; a tensor's offset and strides stay below it too
MAX_NUMEL = 2**48


@dataclass(frozen=True)
class Global:
    """An allowlisted global, as a name only: calling it is interpreted, never executed."""

    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class TensorRef:
    """A tensor the pickle describes: a view (offset, size, stride in elements) of a storage."""

    storage: Any  # whatever persistent_load returned
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


PersistentLoad = Callable[[Any, int], Any]


def _no_persistent(pid: Any, offset: int) -> Any:
    raise FormatError("unexpected persistent id (storage reference) here", offset=offset)


class _Machine:
    def __init__(self, data: bytes, start: int, persistent_load: PersistentLoad, file: str | None):
        self.data = data
        self.pos = start
        self.persistent_load = persistent_load
        self.file = file
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.op_offset = start

    # -- reading -------------------------------------------------------------------------
    def error(self, message: str, **kw: Any) -> FormatError:
        return FormatError(message, file=self.file, offset=self.op_offset, **kw)

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise self.error(
                "pickle truncated", field="length", expected=f"{n} bytes",
                found=f"{len(self.data) - self.pos} left",
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self) -> str:
        end = self.data.find(b"\n", self.pos, self.pos + MAX_TEXT_LINE)
        if end < 0:
            raise self.error("unterminated text argument", expected=f"<= {MAX_TEXT_LINE} bytes")
        text = self.data[self.pos : end].decode("ascii", errors="strict")
        self.pos = end + 1
        return text

    # -- stack helpers -------------------------------------------------------------------
    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is MARK:
            raise self.error("pickle stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise self.error("no MARK on the stack")
        start = self.marks.pop()
        items = self.stack[start + 1 :]
        del self.stack[start:]
        return items

    def top(self) -> Any:
        if not self.stack or self.stack[-1] is MARK:
            raise self.error("pickle stack underflow")
        return self.stack[-1]

    def push_mark(self) -> None:
        self.marks.append(len(self.stack))
        self.stack.append(MARK)

    def memo_get(self, index: int) -> Any:
        if index not in self.memo:
            raise self.error("memo read before write", field="memo", found=index)
        return self.memo[index]

    def memo_put(self, index: int) -> None:
        self.memo[index] = self.top()

    # -- semantics -----------------------------------------------------------------------
    def resolve_global(self, module: str, name: str) -> Global:
        if (module, name) not in ALLOWED_GLOBALS:
            raise self.error(
                f"pickle references global {module}.{name}, which a weights file never needs",
                hint="only tensors, storages, OrderedDict and primitives are accepted",
            )
        return Global(module, name)

    def reduce(self, func: Any, args: Any) -> Any:
        if not isinstance(func, Global) or not isinstance(args, tuple):
            raise self.error("REDUCE on something that is not an allowlisted callable",
                             found=type(func).__name__)
        if func.name == "OrderedDict":
            if args == ():
                return {}
            if len(args) == 1 and isinstance(args[0], list):
                return dict(self.pairs(args[0]))
            raise self.error("OrderedDict called with unexpected arguments")
        if func.name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            if len(args) < 4:
                raise self.error(f"{func.name} needs >= 4 arguments", found=len(args))
            return self.tensor(*args[:4])
        if func.name == "_rebuild_parameter":
            if not args or not isinstance(args[0], TensorRef):
                raise self.error("_rebuild_parameter without a tensor")
            return args[0]
        raise self.error(f"{func} is a type, not a callable a checkpoint may call")

    def pairs(self, items: list[Any]) -> list[tuple[Any, Any]]:
        if not all(isinstance(p, tuple) and len(p) == 2 for p in items):
            raise self.error("OrderedDict items must be (key, value) pairs")
        return items

    def tensor(self, storage: Any, offset: Any, size: Any, stride: Any) -> TensorRef:
        dims = (size, stride)
        if not all(isinstance(d, tuple) and len(d) <= MAX_NDIM for d in dims) or len(size) != len(
            stride
        ):
            raise self.error("tensor size/stride must be equal-length tuples",
                             found=(size, stride))
        values = (offset, *size, *stride)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise self.error("tensor offset/size/stride must be non-negative ints",
                             found=(offset, size, stride))
        # bounded here, as Python ints, so numpy never sees a shape it refuses (an empty
        # tensor's dims are not bounded by its storage) or a stride that overflows
        problem = shape_problem(size)
        if problem is not None:
            raise self.error(f"implausible tensor size: {problem}", field="size",
                             expected=SHAPE_LIMITS, found=size)
        for field, numbers in (("offset", (offset,)), ("stride", stride)):
            if any(v >= MAX_NUMEL for v in numbers):
                raise self.error(f"implausible tensor {field}", field=field,
                                 expected=f"< {MAX_NUMEL} elements (2**48)", found=numbers)
        return TensorRef(storage, offset, size, stride)

    def build(self, state: Any) -> None:
        inst = self.top()
        if not isinstance(inst, dict) or not (state is None or isinstance(state, dict)):
            raise self.error("BUILD is only accepted for a state dict's _metadata",
                             found=type(inst).__name__)

    def setitems(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, dict) or len(items) % 2:
            raise self.error("SETITEM(S) needs a dict and key/value pairs")
        for k in range(0, len(items), 2):
            key = items[k]
            if not isinstance(key, (str, int, bytes, tuple)):
                raise self.error("dict key of a type a checkpoint never uses",
                                 found=type(key).__name__)
            target[key] = items[k + 1]

    def run(self) -> tuple[Any, int]:
        data = self.data
        while True:
            self.op_offset = self.pos
            if self.pos >= len(data):
                raise self.error("pickle ends without STOP")
            code = data[self.pos : self.pos + 1]
            self.pos += 1
            handler = OPS.get(code)
            if handler is None:
                raise self.error(
                    f"pickle opcode {opcode_name(code)} is not allowed in a weights file",
                    field="opcode",
                )
            if handler(self) is STOP:
                if len(self.stack) != 1:
                    raise self.error("STOP with a stack that does not hold exactly one object")
                return self.stack[0], self.pos


def unpickle(
    data: bytes,
    start: int = 0,
    *,
    persistent_load: PersistentLoad = _no_persistent,
    file: str | None = None,
) -> tuple[Any, int]:
    """Interpret one pickle starting at ``data[start]``; return (object, offset after STOP).

    Tensors come back as :class:`TensorRef`; ``persistent_load(pid, offset)`` turns each
    persistent id (a tuple) into the caller's storage reference. Any malformed or
    disallowed input raises :class:`FormatError` with the opcode's byte offset.
    """
    machine = _Machine(data, start, persistent_load, file)
    try:
        return machine.run()
    except FaceportError:
        raise
    except (RecursionError, MemoryError, OverflowError, TypeError, ValueError) as exc:
        # e.g. an unhashable dict key or a self-referencing structure; never our own bug
        # to report as one: the input is what is wrong.
        raise machine.error(f"malformed pickle: {type(exc).__name__}: {exc}") from None
