"""Save and load a converted model without pickle.

One ``.safetensors`` file holds everything: the weights as safetensors tensors, and the IR
(ops, wiring, attributes, provenance, and ``meta`` with the source file's sha256 and the
pre/post-processing parameters) as JSON in the safetensors header metadata under
``faceport.graph``. safetensors parses only a bounded JSON header and raw little-endian
arrays, so loading a file from the internet cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from faceport import __version__
from faceport.atomic import write_atomic
from faceport.errors import FaceportError, FormatError
from faceport.ir import Graph
from faceport.workers import worker

FORMAT_KEY = "faceport.format"
FORMAT_VERSION = "1"
GRAPH_KEY = "faceport.graph"
SUFFIX = ".safetensors"


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_file_soon(path: str | os.PathLike[str]) -> Future[str]:
    """:func:`sha256_file` on a background thread (hashlib releases the GIL on large
    blocks), so a reader can parse while the source is hashed: ``.result()`` when needed."""
    future: Future[str] = worker("sha256").submit(sha256_file, path)
    return future


def save(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` to ``path`` atomically; the result is re-read as a check."""
    from safetensors.numpy import save_file

    from faceport.kinds import with_info

    graph = with_info(graph.validate())  # every file carries its typed model info
    metadata = {
        FORMAT_KEY: FORMAT_VERSION,
        "faceport.version": __version__,
        GRAPH_KEY: json.dumps(graph.structure_json(), sort_keys=True, separators=(",", ":")),
    }
    tensors = {k: np.ascontiguousarray(v) for k, v in sorted(graph.params.items())}

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp), metadata=metadata)

    def check(tmp: Path) -> None:
        load(tmp)

    return write_atomic(path, write, check=check)


def load(path: str | os.PathLike[str]) -> Graph:
    """Read a graph saved by :func:`save`; any defect is a :class:`FormatError`."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    name = str(path)
    if not Path(name).is_file():
        raise FaceportError("no such converted model file", file=name)
    try:
        with safe_open(name, framework="numpy") as handle:
            metadata = handle.metadata() or {}
        params = load_file(name)
    except FaceportError:
        raise
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError
        raise FormatError(f"not a readable safetensors file: {exc}", file=name) from None
    if metadata.get(FORMAT_KEY) != FORMAT_VERSION:
        raise FormatError(
            "not a faceport model file",
            file=name,
            field=FORMAT_KEY,
            expected=FORMAT_VERSION,
            found=metadata.get(FORMAT_KEY),
        )
    try:
        data = json.loads(metadata.get(GRAPH_KEY, ""))
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"graph JSON is malformed: {exc.msg}", file=name, field=GRAPH_KEY
        ) from None
    from faceport.kinds import with_info

    try:
        # a file written before ``info`` existed (faceport 0.1.0) gets it from its meta here
        return with_info(Graph.from_structure_json(data, params))
    except FormatError as exc:
        raise FormatError(
            exc.message,
            file=name,
            field=exc.field or GRAPH_KEY,
            expected=exc.expected,
            found=exc.found,
        ) from None
