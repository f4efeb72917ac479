"""The S3FD family: recognise, convert and run S3FD ``.pth`` checkpoints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.converters import Family
from faceport.errors import FaceportError
from faceport.kinds import with_info

if TYPE_CHECKING:
    from faceport.ir import Graph

log = logging.getLogger(__name__)

SUFFIXES = (".pth", ".pt", ".tar", ".ckpt")
LEGACY_HEAD = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # pickled magic number


class S3FDFamily(Family):
    name = "s3fd"
    description = "PyTorch .pth checkpoint (zip or legacy) of S3FD / SFD_pytorch / face_alignment"

    def sniff(self, path: Path) -> bool:
        """A torch zip (an entry ending in /data.pkl) or a legacy torch.save stream."""
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(LEGACY_HEAD))
        except OSError:
            return False
        if head.startswith(LEGACY_HEAD):
            return True
        if head[:4] != b"PK\x03\x04":
            return False
        from faceport.converters.s3fd.pth_reader import zip_directory

        try:  # any bytes: zip_directory raises nothing but FormatError
            infos, _ = zip_directory(path, str(path))
        except FaceportError:
            return False
        return any(info.filename.endswith("/data.pkl") for info in infos)

    def convert(
        self,
        path: Path,
        *,
        key_map: Mapping[str, str] | None = None,
        strict: bool = True,
        **options: Any,
    ) -> Graph:
        """Read the checkpoint safely, map its keys (``key_map`` for other namings), build the
        graph. ``meta`` records the source name, sha256, container and recognised layout."""
        from faceport.converters.s3fd.graph import build_graph
        from faceport.converters.s3fd.layout import map_state_dict
        from faceport.converters.s3fd.pth_reader import read_checkpoint
        from faceport.serialize import sha256_file

        if options:
            raise FaceportError(f"unknown S3FD conversion options {sorted(options)}",
                                hint="known: key_map, strict")
        checkpoint = read_checkpoint(path)
        mapped = map_state_dict(checkpoint.obj, file=str(path), key_map=key_map, strict=strict)
        log.info("%s: %s container, %s layout", path, checkpoint.container, mapped.layout)
        meta = {
            "source": {"file": Path(path).name, "sha256": sha256_file(path)},
            "container": checkpoint.container,
        }
        return with_info(build_graph(mapped, file=str(path), meta=meta), [path])


FAMILY = S3FDFamily()
