"""The images a verification runs on: photos from a folder, seeded random ones, edge cases.

Every kind yields ``(label, uint8 (H, W, 3) RGB)``; the family's preprocessing turns each
into the graph feed, so random and edge inputs exercise the same pipeline as photos.

* ``photos``: the image files of ``--images`` (sorted; at most ``max_photos``);
* ``random``: uniform uint8 noise from ``numpy.random.default_rng(seed)``, one even and one
  odd size (odd sizes catch floor/ceil differences in pooling and padding);
* ``edge``: constant mid-grey, black, saturated white, a tiny image (8x8: below most
  networks' receptive field; families that cannot take it skip the case with the reason), an
  odd-sized one and a large one (960x720).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceport.errors import FaceportError

KINDS = ("photos", "random", "edge")
RANDOM_SIZES = ((120, 160), (97, 131))
LARGE = (720, 960)
Image = tuple[str, np.ndarray]


def parse_kinds(text: str) -> list[str]:
    """``"photos,random"`` -> ``["photos", "random"]`` (checked, order kept)."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise FaceportError(f"unknown input kind(s) {unknown}", expected=KINDS, found=text)
    return list(dict.fromkeys(kinds))


def photos(folder: Path | None, max_photos: int) -> list[Image]:
    from faceport.imageio import list_images, load_rgb

    if folder is None:
        raise FaceportError("input kind 'photos' needs --images DIR")
    paths = list_images(folder)[:max_photos]
    if not paths:
        raise FaceportError("no images found", file=str(folder))
    return [(f"photo/{p.name}", load_rgb(p)) for p in paths]


def random_images(seed: int = 0) -> list[Image]:
    rng = np.random.default_rng(seed)
    return [
        (f"random/{h}x{w}-seed{seed}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for h, w in RANDOM_SIZES
    ]


def edge_images(seed: int = 0, *, large: bool = True) -> list[Image]:
    rng = np.random.default_rng(seed + 1)
    cases: list[Image] = [
        ("edge/constant-128", np.full((96, 128, 3), 128, np.uint8)),
        ("edge/black", np.zeros((96, 128, 3), np.uint8)),
        ("edge/saturated", np.full((96, 128, 3), 255, np.uint8)),
        ("edge/tiny-8x8", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)),
        ("edge/odd-61x83", rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)),
    ]
    if large:
        h, w = LARGE
        ramp = np.linspace(0, 255, w, dtype=np.float64)[None, :, None]
        noise = rng.normal(0, 20, (h, w, 3))
        cases.append(("edge/large-960x720", np.clip(ramp + noise, 0, 255).astype(np.uint8)))
    return cases


def make_inputs(
    kinds: Sequence[str],
    folder: Path | None = None,
    *,
    max_photos: int = 50,
    seed: int = 0,
    large: bool = True,
) -> list[Image]:
    """All images of ``kinds`` in that order."""
    out: list[Image] = []
    for kind in kinds:
        if kind == "photos":
            out += photos(folder, max_photos)
        elif kind == "random":
            out += random_images(seed)
        elif kind == "edge":
            out += edge_images(seed, large=large)
        else:
            raise FaceportError(f"unknown input kind {kind!r}", expected=KINDS)
    return out


def fit_images(images: Sequence[Image], size: tuple[int, int]) -> list[Image]:
    """Every image resized (:func:`faceport.imageio.resize_rgb`) to ``size`` (H, W), for a file
    that takes one size; the label says so when it was resized. Reference and artifact then
    see the same pixels."""
    from faceport.imageio import resize_rgb

    h, w = size
    return [(label if image.shape[:2] == (h, w) else f"{label}@{w}x{h}", resize_rgb(image, size))
            for label, image in images]  # fmt: skip
