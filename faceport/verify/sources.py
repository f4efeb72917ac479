"""Finding the source model a converted ``.safetensors`` was made from.

A converted file records each source's name, sha256 and the absolute path it was read from
(:class:`faceport.modelinfo.SourceFile`). :func:`locate_source` looks at that path, then for
the same name beside the converted file, and accepts a candidate only when its sha256 is the
recorded one. A ``--source`` the user passes is checked the same way: a file whose content
differs from what was converted is refused, since comparing with it would verify nothing.
"""

from __future__ import annotations

from pathlib import Path

from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import info_of
from faceport.serialize import sha256_file


def locate_source(model: Path, graph: Graph) -> tuple[Path | None, str]:
    """(the primary source file of ``graph``, or ``None`` with the reason)."""
    sources = info_of(graph).sources
    if not sources:
        return None, f"{model.name} records no source file: pass --source ORIGINAL"
    first = sources[0]
    candidates = [Path(first.path)] if first.path else []
    candidates.append(model.resolve().parent / first.file)
    for candidate in candidates:
        if candidate.is_file() and (not first.sha256 or sha256_file(candidate) == first.sha256):
            return candidate, ""
    looked = ", ".join(str(c) for c in candidates)
    return None, (f"the source {first.file} (sha256 {first.sha256[:12]}...) is not at {looked}: "
                  "pass --source ORIGINAL")  # fmt: skip


def check_source(source: Path, graph: Graph) -> None:
    """Refuse a ``--source`` whose content is not a recorded source of ``graph``."""
    if not source.is_file():
        return  # a checkpoint prefix (MXNet): its files are checked by name when read
    records = info_of(graph).sources
    digests = {s.sha256 for s in records if s.sha256}
    if not digests:
        return
    found = sha256_file(source)
    if found not in digests:
        raise FaceportError(
            "--source is not the file this model was converted from", file=str(source),
            expected=", ".join(f"{s.file} {s.sha256[:12]}..." for s in records),
            found=f"sha256 {found[:12]}...",
        )  # fmt: skip
