"""dlib's tiled image pyramid (``input_rgb_image_pyramid``) and ``pyramid_up``.

Semantics reproduced (dlib ``dnn/input.h``, ``image_transforms/image_pyramid.h``):

* ``pyramid_down<N>`` (N > 3) shrinks by ``(N-1)/N``: level sizes are
  ``floor(((N-1.0)/N) * n)``; the pyramid stops before a level with no pixels or fewer than
  5 rows. ``point_down(p) = (p - 0.3) * (N-1)/N``; ``point_up(p) = p * N/(N-1) + 0.3``.
* ``compute_tiled_image_pyramid_details`` lays the levels out in one image: the first column
  stacks levels top to bottom (``padding`` rows apart) until the remaining levels fit to the
  right of the previous one; those are then stacked upwards along the right edge, and the
  canvas gets ``outer_padding`` on every side. Rectangles are inclusive (dlib's convention).
* ``to_tensor`` writes ``(pixel - avg_channel) / 256`` (float) into level 0 and fills every
  other level with dlib's float bilinear resize of the level before it, *in tensor space*
  (after mean subtraction); everything outside the levels is 0.
* ``pyramid_up`` (``pyramid_down<2>``) maps the image rectangle up with
  ``point_up(p) = (p + (1.25, 0.75)) * 2``, rounds it (``lround``) and resizes the RGB image
  to ``bottom + 1`` rows by ``right + 1`` columns with the RGB bilinear kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceport.detect.mmod_pyramid_plan import pyramid_plan
from faceport.detect.mmod_resize import resize_plane_float, resize_rgb_uint8
from faceport.errors import FaceportError

MIN_LEVEL_HEIGHT = 5
Rect = tuple[int, int, int, int]  # left, top, right, bottom (inclusive)


def lround(value: float) -> int:
    """C's ``std::lround``: nearest integer, halves away from zero."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def pyramid_rate(n: int) -> float:
    return (n - 1.0) / n


def level_size(n: int, rows: int, cols: int) -> tuple[int, int]:
    """``find_pyramid_down_output_image_size`` for ``pyramid_down<n>`` (n > 3)."""
    if n <= 3:
        raise FaceportError(
            f"pyramid_down<{n}> uses a dedicated filter that faceport does not reproduce",
            field="pyramid_down", expected="N >= 4", found=n,
        )
    rate = pyramid_rate(n)
    return math.floor(rate * rows), math.floor(rate * cols)


@dataclass(frozen=True)
class TiledPyramid:
    """Level rectangles (inclusive, in tensor pixels) and the canvas size."""

    rects: tuple[Rect, ...]
    rows: int
    cols: int
    down: int  # N of pyramid_down<N>

    def point_up(self, x: np.ndarray, y: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, ...]:
        """Apply ``pyramid_down<N>::point_up`` ``levels`` times (vectorised, per point)."""
        ratio = self.down / (self.down - 1.0)
        x = np.asarray(x, dtype=np.float64).copy()
        y = np.asarray(y, dtype=np.float64).copy()
        levels = np.asarray(levels)
        for i in range(int(levels.max(initial=0))):
            m = levels > i
            x[m] = x[m] * ratio + 0.3
            y[m] = y[m] * ratio + 0.3
        return x, y


def tiled_pyramid_layout(
    rows: int, cols: int, *, padding: int, outer_padding: int, down: int
) -> TiledPyramid:
    """dlib's ``compute_tiled_image_pyramid_details`` for an image of ``rows`` x ``cols``."""
    if rows * cols == 0:
        return TiledPyramid((), 0, 0, down)
    sizes = [(rows, cols)]
    nr, nc = rows, cols
    while True:
        nr, nc = level_size(down, nr, nc)
        if nr * nc == 0 or nr < MIN_LEVEL_HEIGHT:
            break
        sizes.append((nr, nc))
    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    height = 0
    prev_width = 0
    for h, w in sizes:
        if w <= cols - prev_width - padding and (height - rows) * 2 >= total_height - rows:
            break
        height += h + padding
        prev_width = w
    height -= padding
    canvas_rows, canvas_cols = height + 2 * outer_padding, cols + 2 * outer_padding
    rects: list[Rect] = []
    y = outer_padding
    i = 0
    while y < height + outer_padding and i < len(sizes):
        h, w = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    first = rects[0]
    while i < len(sizes):
        h, w = sizes[i]
        right, bottom = outer_padding + cols - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        if _intersects(first, rect):
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return TiledPyramid(tuple(rects), canvas_rows, canvas_cols, down)


def _intersects(a: Rect, b: Rect) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


def image_to_tensor(
    image: np.ndarray,
    mean_rgb: Sequence[float],
    *,
    padding: int,
    outer_padding: int,
    down: int,
    reference: bool = False,
    canvas: np.ndarray | None = None,
) -> tuple[np.ndarray, TiledPyramid]:
    """``input_rgb_image_pyramid::to_tensor`` for one uint8 RGB image (H, W, 3).

    Returns the float32 tensor (1, 3, rows, cols) and its layout. The levels are filled
    from a cached per-size plan (:mod:`.mmod_pyramid_plan`); ``reference=True`` resizes
    level by level with :func:`resize_plane_float` instead (same bits, slower; for tests).
    ``canvas``: a tensor this function returned before for an image of the same size, to be
    overwritten (skips allocating and page-faulting ~14 MB at 640x480); else a new one.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FaceportError(
            "MMOD input must be a uint8 RGB image", field="image",
            expected="uint8 (H, W, 3)", found=f"{image.dtype} {image.shape}",
        )
    h, w = image.shape[:2]
    layout = tiled_pyramid_layout(h, w, padding=padding, outer_padding=outer_padding, down=down)
    shape = (1, 3, layout.rows, layout.cols)
    if canvas is not None and canvas.shape == shape and canvas.dtype == np.float32:
        data = canvas  # same layout: the same rects are rewritten, the padding stays 0
    else:
        data = np.zeros(shape, dtype=np.float32)
    if not layout.rects:
        return data, layout
    # (uchar - float avg) is computed in float, then divided by 256.0 (exact in binary)
    mean = np.asarray(mean_rgb, dtype=np.float32).reshape(3, 1, 1)
    l0, t0, r0, b0 = layout.rects[0]
    level0 = data[0, :, t0 : b0 + 1, l0 : r0 + 1]
    np.subtract(np.moveaxis(image, -1, 0), mean, out=level0, dtype=np.float32)
    level0 /= np.float32(256.0)
    if reference:
        level = level0
        for left, top, right, bottom in layout.rects[1:]:
            level = resize_plane_float(level, bottom - top + 1, right - left + 1)
            data[0, :, top : bottom + 1, left : right + 1] = level
    else:
        pyramid_plan(layout.rects, layout.rows, layout.cols).fill(data[0])
    return data, layout


def pyramid_up_size(rows: int, cols: int) -> tuple[int, int]:
    """Output size of dlib's ``pyramid_up`` with ``pyramid_down<2>``."""
    right = lround((cols - 1 + 1.25) * 2)
    bottom = lround((rows - 1 + 0.75) * 2)
    return bottom + 1, right + 1


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_up(matrix<rgb_pixel>&)`` (``pyramid_down<2>``), uint8 RGB in and out."""
    rows, cols = pyramid_up_size(*image.shape[:2])
    return resize_rgb_uint8(image, rows, cols)


def rect_down_2(boxes: np.ndarray, levels: int) -> np.ndarray:
    """``pyramid_down<2>::rect_down(rect, levels)`` then ``lround`` to an integer rectangle.

    ``boxes``: (N, 4) left, top, right, bottom. ``point_down(p) = p / 2 - (1.25, 0.75)``.
    """
    out = np.asarray(boxes, dtype=np.float64).copy()
    for _ in range(levels):
        out[:, [0, 2]] = out[:, [0, 2]] / 2.0 - 1.25
        out[:, [1, 3]] = out[:, [1, 3]] / 2.0 - 0.75
    return round_half_away(out)


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Vectorised ``std::lround`` (as float64 holding integers)."""
    v = np.asarray(values, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)
