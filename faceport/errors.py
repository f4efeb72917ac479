"""faceport's error types.

Bad input (a malformed file, an op we do not convert, an export that cannot be written, a
parity check that failed) is a :class:`FaceportError`; every one names what the user can fix.
Our own bugs are :class:`InternalError`, which deliberately does *not* derive from
``FaceportError`` so the two are never confused (the same split Polygraphy keeps).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _fmt(value: Any, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FaceportError(Exception):
    """Base class for every error caused by input, environment or a failed check.

    The location fields are optional; those that are set are printed in a fixed order so a
    message always reads ``file:line`` / ``file@offset`` then the field and expected/found.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        offset: int | None = None,
        line: int | None = None,
        field: str | None = None,
        expected: Any = None,
        found: Any = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.offset = offset
        self.line = line
        self.field = field
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            if self.offset is not None:
                where += f" @ byte {self.offset}"
        elif self.line is not None:
            where = f"line {self.line}"
        elif self.offset is not None:
            where = f"byte {self.offset}"
        parts = [f"{where}: {self.message}" if where else self.message]
        if self.field is not None:
            parts.append(f"field {self.field!s}")
        if self.expected is not None and self.found is not None:
            parts.append(f"expected {_fmt(self.expected)}, found {_fmt(self.found)}")
        elif self.expected is not None:
            parts.append(f"expected {_fmt(self.expected)}")
        elif self.found is not None:
            parts.append(f"found {_fmt(self.found)}")
        text = "; ".join(parts)
        if self.hint:
            text += f" ({self.hint})"
        return text


class FormatError(FaceportError):
    """The bytes of an input file do not follow the format they claim to be in."""


class UnsupportedOpError(FaceportError):
    """A source op (layer type) that faceport has no converter for."""

    def __init__(
        self,
        framework: str,
        op: str,
        node: str,
        *,
        file: str | None = None,
        line: int | None = None,
        offset: int | None = None,
        supported: Iterable[str] = (),
    ) -> None:
        self.framework = framework
        self.op = op
        self.node = node
        self.supported = sorted(supported)
        listing = ", ".join(self.supported) if self.supported else "none registered"
        super().__init__(
            f"unsupported {framework} op {op!r} at node {node!r}",
            file=file,
            line=line,
            offset=offset,
            hint=f"supported {framework} ops: {listing}",
        )


class ExportError(FaceportError):
    """A converted model could not be exported (or the export failed its own checks)."""


class ParityError(FaceportError):
    """Two implementations of the same model disagree beyond tolerance."""


class BackendUnavailable(FaceportError):
    """A runner's backend (dlib, MXNet venv, CUDA, the C++ dumper...) is not present here."""


class InternalError(RuntimeError):
    """A bug in faceport itself: an invariant broke. Please report it."""
