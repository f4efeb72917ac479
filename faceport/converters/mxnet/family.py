"""The MXNet family: ``<prefix>-symbol.json`` + ``<prefix>-NNNN.params`` checkpoints.

``convert`` accepts the symbol file, a ``.params`` file, or the prefix itself; the parameter
file is the only ``<prefix>-NNNN.params`` there, or the newest epoch, or the one chosen with
``epoch=N``. What the network is (RetinaFace is recognised by its heads) is decided by the
model-kind registry (:mod:`faceport.kinds.retinaface`), not here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.converters import Family
from faceport.errors import FaceportError
from faceport.kinds import with_info

if TYPE_CHECKING:
    from faceport.ir import Graph

SYMBOL_SUFFIX = "-symbol.json"
_PARAMS = re.compile(r"-(\d{4,})\.params$")


def _prefix(path: Path) -> Path:
    name = path.name
    if name.endswith(SYMBOL_SUFFIX):
        return path.with_name(name[: -len(SYMBOL_SUFFIX)])
    match = _PARAMS.search(name)
    if match:
        return path.with_name(name[: match.start()])
    return path


def checkpoint_files(
    path: str | Path, epoch: int | None = None, params: str | Path | None = None
) -> tuple[Path, Path]:
    """``(symbol.json, params)`` for a symbol file, params file or prefix; ``params`` pairs a
    symbol file of any name with the weights file given."""
    p = Path(path)
    if params is not None:
        if epoch is not None:
            raise FaceportError("pass either epoch or params, not both", field="params")
        weights = Path(params)
        symbol = p if p.is_file() else p.with_name(p.name + SYMBOL_SUFFIX)
        for what, file in (("symbol", symbol), ("params", weights)):
            if not file.is_file():
                raise FaceportError(f"MXNet {what} file not found", file=str(file))
        return symbol, weights
    prefix = _prefix(p)
    symbol = prefix.with_name(prefix.name + SYMBOL_SUFFIX)
    if not symbol.is_file():
        raise FaceportError("MXNet symbol file not found", file=str(symbol),
                            hint="pass <prefix>-symbol.json or the checkpoint prefix")
    if p.name.endswith(".params") and epoch is None:
        return symbol, p
    epochs: dict[int, Path] = {}
    for candidate in prefix.parent.glob(f"{glob_escape(prefix.name)}-*.params"):
        match = _PARAMS.search(candidate.name)
        if match and candidate.name[: match.start()] == prefix.name:
            epochs[int(match.group(1))] = candidate
    if epoch is not None:
        if epoch not in epochs:
            raise FaceportError(f"no parameter file for epoch {epoch}", file=str(prefix),
                                field="epoch", expected=sorted(epochs), found=epoch)
        return symbol, epochs[epoch]
    if not epochs:
        raise FaceportError("no <prefix>-NNNN.params file beside the symbol", file=str(symbol))
    return symbol, epochs[max(epochs)]


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]*?])", r"[\1]", text)


class MXNetFamily(Family):
    """MXNet Module checkpoints (symbol JSON + NDArray-list params), read without MXNet."""

    name = "mxnet"
    description = "<prefix>-symbol.json with <prefix>-NNNN.params (MXNet checkpoint)"

    def sniff(self, path: Path) -> bool:
        p = Path(path)
        if p.name.endswith(SYMBOL_SUFFIX):
            return True
        if p.suffix == ".json" and p.is_file():  # a symbol saved under another name
            try:
                with open(p, "rb") as handle:
                    head = handle.read(4096)
            except OSError:
                return False
            return head.lstrip().startswith(b"{") and b'"nodes"' in head and b'"op"' in head
        if p.suffix == ".params" and p.is_file():
            try:
                with open(p, "rb") as handle:
                    return handle.read(8) == (0x112).to_bytes(8, "little")
            except OSError:  # unreadable: not ours to claim (sniff never raises)
                return False
        return p.with_name(p.name + SYMBOL_SUFFIX).is_file()

    def convert(self, path: Path, **options: Any) -> Graph:
        from dataclasses import replace

        from faceport.converters.mxnet.reader import read_model
        from faceport.serialize import sha256_file

        unknown = set(options) - {"epoch", "params"}
        if unknown:
            raise FaceportError(f"unknown MXNet conversion option(s): {', '.join(sorted(unknown))}",
                                hint="supported: epoch, params")  # fmt: skip
        symbol, params = checkpoint_files(path, options.get("epoch"), options.get("params"))
        graph = read_model(symbol, params)
        meta: dict[str, Any] = dict(graph.meta)
        sources = [{"file": f.name, "sha256": sha256_file(f)} for f in (symbol, params)]
        meta.update(
            family="mxnet",
            source=sources[0],
            sources=sources,
            input={"name": graph.inputs[0].name, "shape": list(graph.inputs[0].shape)}
            if graph.inputs
            else None,
        )
        return with_info(replace(graph, meta=meta), [symbol, params])


FAMILY = MXNetFamily()
