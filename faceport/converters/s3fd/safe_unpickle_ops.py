"""The pickle opcodes :mod:`faceport.converters.s3fd.safe_unpickle` accepts, one handler each.

Semantics as documented in CPython's ``pickletools``; each handler reads its argument with
the machine's bounds-checked readers and acts on its stack / memo. :data:`OPS` maps an
opcode byte to its handler; a byte not in it is rejected by the machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceport.converters.s3fd.safe_unpickle import _Machine

MAX_LONG_BYTES = 64  # a checkpoint's ints are sizes and offsets; 512-bit is plenty


class _Mark:
    """The MARK sentinel on the stack."""


MARK = _Mark()
STOP = object()  # returned by the STOP handler: the pickle is complete


def opcode_name(code: bytes) -> str:
    import pickletools

    for op in pickletools.opcodes:
        if op.code.encode("latin-1") == code:
            return f"{op.name} ({code!r})"
    return f"{code!r}"


def _text(m: _Machine, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise m.error(f"string is not UTF-8: {exc.reason}") from None


def _long(m: _Machine, n: int) -> int:
    if n > MAX_LONG_BYTES:
        raise m.error("integer too long", expected=f"<= {MAX_LONG_BYTES} bytes", found=n)
    return int.from_bytes(m.take(n), "little", signed=True)


def _push(value: Any) -> Callable[[_Machine], None]:
    return lambda m: m.stack.append(value)


def _tuple(n: int) -> Callable[[_Machine], None]:
    def op(m: _Machine) -> None:
        items = [m.pop() for _ in range(n)][::-1]
        m.stack.append(tuple(items))

    return op


def _append(m: _Machine) -> None:
    value = m.pop()
    target = m.top()
    if not isinstance(target, list):
        raise m.error("APPEND to a non-list")
    target.append(value)


def _appends(m: _Machine) -> None:
    items = m.pop_mark()
    target = m.top()
    if not isinstance(target, list):
        raise m.error("APPENDS to a non-list")
    target.extend(items)


def _setitem(m: _Machine) -> None:
    value = m.pop()
    key = m.pop()
    m.setitems(m.top(), [key, value])


def _setitems(m: _Machine) -> None:
    items = m.pop_mark()
    m.setitems(m.top(), items)


def _dict(m: _Machine) -> None:
    items = m.pop_mark()
    target: dict[Any, Any] = {}
    m.setitems(target, items)
    m.stack.append(target)


def _global(m: _Machine) -> None:
    module, name = m.line(), m.line()
    m.stack.append(m.resolve_global(module, name))


def _stack_global(m: _Machine) -> None:
    name, module = m.pop(), m.pop()
    if not isinstance(module, str) or not isinstance(name, str):
        raise m.error("STACK_GLOBAL needs two strings")
    m.stack.append(m.resolve_global(module, name))


def _reduce(m: _Machine) -> None:
    args = m.pop()
    func = m.pop()
    m.stack.append(m.reduce(func, args))


def _build(m: _Machine) -> None:
    m.build(m.pop())


def _binpersid(m: _Machine) -> None:
    pid = m.pop()
    m.stack.append(m.persistent_load(pid, m.op_offset))


def _frame(m: _Machine) -> None:
    size = m.unpack("<Q")
    if size > len(m.data) - m.pos:
        raise m.error("FRAME longer than the data", expected=size, found=len(m.data) - m.pos)


def _proto(m: _Machine) -> None:
    version = m.take(1)[0]
    if version > 5:
        raise m.error("unknown pickle protocol", expected="<= 5", found=version)


def _put_text(m: _Machine) -> None:
    m.memo_put(_int_line(m))


def _get_text(m: _Machine) -> None:
    m.stack.append(m.memo_get(_int_line(m)))


def _int_line(m: _Machine) -> int:
    text = m.line()
    if not text.isdigit():
        raise m.error("memo index is not a number", found=text)
    return int(text)


def _memoize(m: _Machine) -> None:
    m.memo_put(len(m.memo))


def _list_from_mark(m: _Machine) -> None:
    m.stack.append(m.pop_mark())


def _tuple_from_mark(m: _Machine) -> None:
    m.stack.append(tuple(m.pop_mark()))


def _pop(m: _Machine) -> None:
    if m.stack and m.stack[-1] is MARK:
        m.pop_mark()
    else:
        m.pop()


OPS: dict[bytes, Callable[[_Machine], Any]] = {
    b"\x80": _proto,
    b"\x95": _frame,
    b".": lambda m: STOP,
    b"(": lambda m: m.push_mark(),
    b"0": _pop,
    b"1": lambda m: m.pop_mark(),
    b"2": lambda m: m.stack.append(m.top()),
    b"N": _push(None),
    b"\x88": _push(True),
    b"\x89": _push(False),
    b"J": lambda m: m.stack.append(m.unpack("<i")),
    b"K": lambda m: m.stack.append(m.unpack("<B")),
    b"M": lambda m: m.stack.append(m.unpack("<H")),
    b"\x8a": lambda m: m.stack.append(_long(m, m.unpack("<B"))),
    b"\x8b": lambda m: m.stack.append(_long(m, m.unpack("<i"))),
    b"G": lambda m: m.stack.append(m.unpack(">d")),
    b"X": lambda m: m.stack.append(_text(m, m.take(m.unpack("<I")))),
    b"\x8c": lambda m: m.stack.append(_text(m, m.take(m.unpack("<B")))),
    b"\x8d": lambda m: m.stack.append(_text(m, m.take(m.unpack("<Q")))),
    # Python 2 ``str`` (SHORT_BINSTRING / BINSTRING): torch.load decodes them as UTF-8 too
    b"U": lambda m: m.stack.append(_text(m, m.take(m.unpack("<B")))),
    b"T": lambda m: m.stack.append(_text(m, m.take(m.unpack("<i")))),
    b"C": lambda m: m.stack.append(m.take(m.unpack("<B"))),
    b"B": lambda m: m.stack.append(m.take(m.unpack("<I"))),
    b"\x8e": lambda m: m.stack.append(m.take(m.unpack("<Q"))),
    b")": lambda m: m.stack.append(()),
    b"t": _tuple_from_mark,
    b"\x85": _tuple(1),
    b"\x86": _tuple(2),
    b"\x87": _tuple(3),
    b"]": lambda m: m.stack.append([]),
    b"l": _list_from_mark,
    b"a": _append,
    b"e": _appends,
    b"}": lambda m: m.stack.append({}),
    b"d": _dict,
    b"s": _setitem,
    b"u": _setitems,
    b"q": lambda m: m.memo_put(m.unpack("<B")),
    b"r": lambda m: m.memo_put(m.unpack("<I")),
    b"p": _put_text,
    b"\x94": _memoize,
    b"h": lambda m: m.stack.append(m.memo_get(m.unpack("<B"))),
    b"j": lambda m: m.stack.append(m.memo_get(m.unpack("<I"))),
    b"g": _get_text,
    b"c": _global,
    b"\x93": _stack_global,
    b"R": _reduce,
    b"b": _build,
    b"Q": _binpersid,
}
