"""Shared, cached work for the S3FD tests (fixtures generated once, forwards run once).

Both tests/converters/s3fd and tests/detect use these; the caches are module-level so the
expensive VGG forwards (seconds each on 2 cores) happen once per test session.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import SHARED

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "build" / "s3fd_fixtures"
CANONICAL = "sfd_pytorch_zip"
#: real photos the parity tests run on: (relative path, size or None for its own size)
PHOTOS: tuple[tuple[str, tuple[int, int] | None], ...] = (
    ("images/sfd_pytorch/test01.jpg", None),
    ("images/dlib_examples_faces/2008_002470.jpg", (640, 480)),
)


@functools.cache
def fixture_files() -> dict[str, Path]:
    from tools.s3fd_fixtures import generate

    return generate(FIXTURE_DIR)


@functools.cache
def weights() -> dict[str, np.ndarray]:
    from tools.s3fd_fixtures import load_weights

    fixture_files()
    return load_weights(FIXTURE_DIR)


def key_map_for(name: str) -> dict[str, str] | None:
    if not name.startswith("renamed"):
        return None
    return dict(json.loads((FIXTURE_DIR / "renamed_key_map.json").read_text()))


@functools.cache
def converted(name: str) -> Any:
    from faceport.converters import convert

    return convert(fixture_files()[name], key_map=key_map_for(name))


@functools.cache
def reference() -> Any:
    from faceport.verify.references.s3fd_model import reference_model

    return reference_model(weights())


@functools.cache
def detector() -> Any:
    from faceport.detect.s3fd import S3FDDetector

    return S3FDDetector(converted(CANONICAL))


def photo(relative: str, size: tuple[int, int] | None) -> np.ndarray | None:
    """RGB uint8 photo at its own size or resized (bilinear) to ``size`` = (w, h)."""
    from PIL import Image

    from faceport.imageio import load_rgb

    path = SHARED / relative
    if not path.is_file():
        return None
    image = load_rgb(path)
    if size is not None:
        image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
    return image


@functools.cache
def forwards(index: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]] | None:
    """(image, faceport outputs, reference outputs) for PHOTOS[index], or None if absent."""
    from faceport.verify.references.s3fd_model import preprocess, reference_forward

    image = photo(*PHOTOS[index])
    if image is None:
        return None
    return image, detector().forward(image), reference_forward(reference(), preprocess(image))
