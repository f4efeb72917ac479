"""Atomic file output: write beside the target, check, then rename.

A failure or interruption never leaves a partial file at the target path: the data goes to a
temporary file in the same directory (so the final ``os.replace`` is atomic on POSIX), the
optional ``check`` callback validates it, and only then is it moved into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on clean exit rename it onto ``target``.

    On any exception (including ``KeyboardInterrupt``) the temporary file is removed and the
    target is left untouched.
    """
    target = Path(target)
    if target.is_dir():
        from faceport.errors import FaceportError

        raise FaceportError("the output is an existing directory: give a file name",
                            file=str(target))  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f"{suffix}.tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the result the usual umask mode
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(
    target: str | os.PathLike[str],
    writer: Callable[[Path], None],
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Run ``writer(tmp)``, then ``check(tmp)``, then move ``tmp`` onto ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)
        if check is not None:
            check(tmp)
    return Path(target)
