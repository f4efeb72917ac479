"""Image loading and saving (Pillow), always as uint8 RGB (H, W, 3) numpy arrays."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from faceport.errors import FaceportError, FormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")
MAX_PIXELS = 20_000 * 20_000  # refuse decompression bombs before decoding


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode ``path`` to a C-contiguous uint8 (H, W, 3) RGB array."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise FaceportError("no such image file", file=str(p))
    try:
        with Image.open(p) as img:
            if img.width * img.height > MAX_PIXELS:
                raise FormatError(
                    "image too large",
                    file=str(p),
                    expected=f"<= {MAX_PIXELS} pixels",
                    found=f"{img.width}x{img.height}",
                )
            rgb = img.convert("RGB")
            return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    except FaceportError:
        raise
    except Exception as exc:  # Pillow raises many types (UnidentifiedImageError, OSError)
        raise FormatError(f"cannot decode image: {exc}", file=str(p)) from None


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3) resized to ``size`` (H, W) with PIL's bilinear filter (the image itself
    when it already has that size)."""
    from PIL import Image

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    resized = Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(resized))


def save_rgb(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a uint8 RGB array atomically (format from the suffix)."""
    from PIL import Image

    from faceport.atomic import atomic_path

    target = Path(path)
    with atomic_path(target, suffix=target.suffix) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format=_format(target))
    return target


def _format(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper() or "PNG")


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in ``folder`` (sorted), or ``[folder]`` when it is one image."""
    p = Path(folder)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FaceportError("no such image folder", file=str(p))
    return sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
