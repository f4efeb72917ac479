"""Shared inputs for the matrix, fault and report tests (small images, cached models)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import SHARED

PHOTOS = SHARED / "images" / "dlib_examples_faces"
MNET25 = SHARED / "retinaface_mxnet" / "mnet.25" / "mnet.25-symbol.json"
DLIB_MMOD = SHARED / "dlib" / "mmod_human_face_detector.dat"


@functools.cache
def photo(name: str = "2008_002470.jpg", scale: float = 1.0) -> np.ndarray:
    """A real photo as uint8 RGB, optionally downscaled (bilinear) to keep CPU time low."""
    from faceport.imageio import load_rgb

    image = load_rgb(PHOTOS / name)
    if scale == 1.0:
        return image
    from PIL import Image

    pic = Image.fromarray(image)
    size = (round(pic.width * scale), round(pic.height * scale))
    return np.asarray(pic.resize(size, Image.Resampling.BILINEAR))


@functools.cache
def s3fd_source() -> Path:
    from tests.reference.s3fd_session import fixture_files

    return Path(fixture_files()["sfd_pytorch_zip"])


@functools.cache
def converted(path: str) -> Any:
    from faceport.converters import convert

    return convert(Path(path))


def r50_symbol() -> Path:
    """The random-weight RetinaFace-R50 checkpoint of the MXNet tests (made by MXNet)."""
    from tests.converters.mxnet.mxnet_ref_fixtures import OUT, fixtures

    fixtures()
    return OUT / "r50" / "retinaface_r50-symbol.json"


TWO_PHOTOS = ("2008_002470.jpg", "2008_002506.jpg")


@functools.cache
def two_photo_dir() -> Path:
    """A folder holding links to two of dlib's example photos (the CLI takes a folder)."""
    import os
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="faceport-verify-photos-"))
    for name in TWO_PHOTOS:
        os.symlink(PHOTOS / name, folder / name)
    return folder


@functools.cache
def cli_run(model: str, *extra: str) -> tuple[int, Path, str]:
    """``faceport verify MODEL --images <2 photos> --backends all --report DIR EXTRA...`` run
    in-process once per session: (exit code, report folder, stdout)."""
    import contextlib
    import io
    import tempfile

    from faceport.cli.main import main

    out_dir = Path(tempfile.mkdtemp(prefix="faceport-verify-report-"))
    argv = [
        "verify",
        model,
        "--images",
        str(two_photo_dir()),
        "--backends",
        "all",
        "--report",
        str(out_dir),
        *extra,
    ]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(argv)
    return code, out_dir, buffer.getvalue()
