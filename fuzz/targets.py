"""One libFuzzer target per reader: ``TARGETS[name](data)`` feeds ``data`` to that reader.

The readers are a security boundary: for any bytes they may raise only
:class:`~faceport.errors.FaceportError` (and its subclasses). A target swallows exactly
that and lets everything else escape, so libFuzzer records the input as a crash. Each
target also asks the family's ``sniff`` about the bytes (written to a scratch file with
the suffix the family looks at): ``sniff`` answers a bool and never raises at all.

``READERS[name](data)`` is the same call without the swallowing (and without sniff): it
returns what the reader returned, for the seed tests.

Import this module inside ``atheris.instrument_imports()`` so the faceport modules it
pulls in are instrumented for coverage (``fuzz.run`` does).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceport.converters.dlib.dat_reader import read_dat_bytes
from faceport.converters.dlib.family import FAMILY as DLIB
from faceport.converters.dlib.xml_reader import read_xml
from faceport.converters.mxnet.family import FAMILY as MXNET
from faceport.converters.mxnet.params import read_ndarray_list
from faceport.converters.mxnet.symbol import load_symbol
from faceport.converters.s3fd.family import FAMILY as S3FD
from faceport.converters.s3fd.graph import build_graph
from faceport.converters.s3fd.layout import map_state_dict
from faceport.converters.s3fd.pth_reader import read_checkpoint_bytes
from faceport.errors import FaceportError

#: a scratch folder for this process (``fuzz.run`` passes one it removes afterwards:
#: libFuzzer ends the process with exit(), which runs no Python atexit handler)
SCRATCH_ENV = "FACEPORT_FUZZ_SCRATCH"

Target = Callable[[bytes], None]


class SniffError(AssertionError):
    """A family's ``sniff`` raised or answered something other than a bool."""


_scratch_dir: Path | None = None


def scratch_dir() -> Path:
    """The one scratch folder of this process (created on first use)."""
    global _scratch_dir
    if _scratch_dir is None:
        given = os.environ.get(SCRATCH_ENV)
        if given:
            _scratch_dir = Path(given)
            _scratch_dir.mkdir(parents=True, exist_ok=True)
        else:
            _scratch_dir = Path(tempfile.mkdtemp(prefix="faceport-fuzz-"))
            atexit.register(shutil.rmtree, _scratch_dir, True)
    return _scratch_dir


def scratch_file(name: str, data: bytes) -> Path:
    """``data`` written to the reused scratch file ``name`` (its suffix matters to sniff)."""
    path = scratch_dir() / name
    path.write_bytes(data)
    return path


def _sniff(family: Any, path: Path) -> None:
    try:
        answer = family.sniff(path)
    except Exception as exc:
        raise SniffError(f"{family.name}.sniff raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(answer, bool):
        raise SniffError(f"{family.name}.sniff answered {answer!r}, not a bool")


# -- readers (no swallowing) ------------------------------------------------------------
def read_dlib_dat(data: bytes) -> Any:
    # bn_as_affine=True is what the dlib family's convert does by default (and runs the
    # bn -> affine folding on whatever running statistics the file holds)
    return read_dat_bytes(data, "fuzz.dat", bn_as_affine=True)


def read_dlib_xml(data: bytes) -> Any:
    return read_xml(scratch_file("fuzz.xml", data))


def read_mxnet_params(data: bytes) -> Any:
    return read_ndarray_list("fuzz-0000.params", data=data)


def read_mxnet_symbol(data: bytes) -> Any:
    return load_symbol("fuzz-symbol.json", text=data)


def read_s3fd_pth(data: bytes) -> Any:
    return read_checkpoint_bytes(data, file="fuzz.pth")


def read_s3fd_graph(data: bytes) -> Any:
    """What ``S3FDFamily.convert`` does after reading the file: map the checkpoint's state
    dict onto S3FD's keys and shapes, then build (and validate) the graph."""
    checkpoint = read_checkpoint_bytes(data, file="fuzz.pth")
    mapped = map_state_dict(checkpoint.obj, file="fuzz.pth", strict=True)
    meta = {"source": {"file": "fuzz.pth", "sha256": "0" * 64},
            "container": checkpoint.container}
    return build_graph(mapped, file="fuzz.pth", meta=meta)


READERS: dict[str, Callable[[bytes], Any]] = {
    "dlib_dat": read_dlib_dat,
    "dlib_xml": read_dlib_xml,
    "mxnet_params": read_mxnet_params,
    "mxnet_symbol": read_mxnet_symbol,
    "s3fd_pth": read_s3fd_pth,
    "s3fd_graph": read_s3fd_graph,
}

#: (family, scratch file name) whose sniff each target also calls on the bytes
SNIFFS: dict[str, tuple[Any, str]] = {
    "dlib_dat": (DLIB, "sniff.dat"),
    "dlib_xml": (DLIB, "sniff.xml"),
    "mxnet_params": (MXNET, "sniff-0000.params"),
    "mxnet_symbol": (MXNET, "sniff.json"),  # not -symbol.json: that name alone says yes
    "s3fd_pth": (S3FD, "sniff.pth"),
    "s3fd_graph": (S3FD, "sniff.pth"),
}


# -- targets ------------------------------------------------------------------------------
def _target(name: str) -> Target:
    read = READERS[name]
    family, sniff_name = SNIFFS[name]

    def target(data: bytes) -> None:
        _sniff(family, scratch_file(sniff_name, data))
        with contextlib.suppress(FaceportError):
            read(data)

    target.__name__ = target.__qualname__ = f"fuzz_{name}"
    target.__doc__ = f"libFuzzer target: {read.__name__}, FaceportError swallowed; sniff."
    return target


TARGETS: dict[str, Target] = {name: _target(name) for name in READERS}


def quiet() -> None:
    """Silence faceport's per-input log lines (trailing bytes ignored...) while fuzzing."""
    logging.getLogger("faceport").setLevel(logging.CRITICAL)
