"""dlib's bilinear ``resize_image`` kernels, reproduced bit for bit with numpy.

dlib (``image_transforms/interpolation.h``, 19.24+/20.x) has two SIMD fast paths that
matter for the MMOD detector:

* grayscale -> grayscale of the same pixel type (used on ``float`` tensor planes by
  ``tt::resize_bilinear`` when ``input_rgb_image_pyramid`` builds its tiled pyramid);
* RGB -> RGB (used by ``pyramid_up`` on ``matrix<rgb_pixel>`` before detection).

Both map output pixel ``(r, c)`` to source ``(r * y_scale, c * x_scale)`` with
``scale = (in - 1) / max(out - 1, 1)`` (corner aligned), but the arithmetic is not the
textbook one: the row coordinate is *accumulated* in double (``y += y_scale``), columns are
processed four at a time with a float32 accumulator (``_x += 4 * x_scale``) and float32
weights, and the columns left once the fourth lane's right neighbour leaves the image are
finished by a scalar loop in mixed float/double precision. The RGB path truncates the float
result to an integer (``_mm_cvttps_epi32``); the scalar tail truncates too (``static_cast``).
Replaying exactly those operations in the same order (numpy's ``add.accumulate`` is a
sequential sum) gives identical bits, which the tests check against ``dlib.resize_image``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_F = np.float32


@dataclass(frozen=True)
class _Axis:
    """Per-axis sampling plan of dlib's SIMD resize (columns) or row loop (rows)."""

    lo: np.ndarray  # int64 (n,) left/top source index
    hi: np.ndarray  # int64 (n,) right/bottom source index
    frac: np.ndarray  # float32 (n,) weight of ``hi`` (float32 lanes)
    inv: np.ndarray  # float32 (n,) weight of ``lo``


def _scale(n_in: int, n_out: int) -> float:
    return (n_in - 1) / float(max(n_out - 1, 1))


def _rows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row plan: ``top``, ``bottom`` (clamped) and the double ``tb_frac`` per output row."""
    ys = _scale(n_in, n_out)
    steps = np.full(n_out + 1, ys, dtype=np.float64)
    steps[0] = -ys
    y = np.add.accumulate(steps)[1:]  # y = -ys; then y += ys once per row
    top = np.floor(y).astype(np.int64)
    bottom = np.minimum(top + 1, n_in - 1)
    return top, bottom, y - top


def _simd_columns(n_in: int, n_out: int) -> tuple[_Axis, int, float]:
    """The columns computed by the 4-lane float32 loop, and where the scalar tail starts."""
    xs = _scale(n_in, n_out)
    x0 = -4 * xs
    blocks = (n_out + 3) // 4 + 1  # the loop runs until lane 3's right index leaves the image
    steps = np.empty((blocks + 1, 4), dtype=_F)
    steps[0] = np.array([x0, x0 + xs, x0 + 2 * xs, x0 + 3 * xs], dtype=np.float64).astype(_F)
    steps[1:] = _F(4 * xs)
    x = np.add.accumulate(steps, axis=0)[1:]  # (blocks, 4) float32
    left = np.trunc(x).astype(np.int64)  # _mm_cvttps_epi32 truncates
    stop = np.nonzero(left[:, 3] + 1 >= n_in)[0]
    n_blocks = int(stop[0]) if stop.size else blocks
    n_simd = min(4 * n_blocks, n_out)
    x = x[:n_blocks].reshape(-1)[:n_simd]
    left = left[:n_blocks].reshape(-1)[:n_simd]
    frac = (x - left.astype(_F)).astype(_F)
    axis = _Axis(left, left + 1, frac, (_F(1) - frac).astype(_F))
    return axis, n_simd, xs


def _tail_columns(n_in: int, n_out: int, start: int, xs: float) -> tuple[np.ndarray, ...]:
    """Scalar tail: ``x = -xs + start*xs`` then ``x += xs`` per column (double), clamped."""
    n = n_out - start
    steps = np.full(n + 1, xs, dtype=np.float64)
    steps[0] = -xs + start * xs
    x = np.add.accumulate(steps)[1:]
    left = np.floor(x).astype(np.int64)
    right = np.minimum(left + 1, n_in - 1)
    return left, right, x - left


def _gather(planes: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``planes[..., rows[:, None], cols[None, :]]`` as two contiguous ``take`` s (faster)."""
    return np.take(np.take(planes, rows, axis=-2), cols, axis=-1)


def _weighted_sum(
    corners: tuple[np.ndarray, ...], inv_tb: np.ndarray, tb: np.ndarray, inv_lr: np.ndarray,
    lr: np.ndarray,
) -> np.ndarray:
    """``tlf*tl + trf*tr + blf*bl + brf*br`` left to right in float32, weights ``a*b``."""
    tl, tr, bl, br = corners
    acc = np.multiply(inv_tb * inv_lr, tl)
    acc += (inv_tb * lr) * tr
    acc += (tb * inv_lr) * bl
    acc += (tb * lr) * br
    return acc


def blend_tail(corners: tuple[np.ndarray, ...], lr: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """dlib's scalar tail columns of the float plane resize: each row pair blended in float32
    (``(1-lr)*left + lr*right``), then the two rows in double (``(1-tb)*upper + tb*lower``),
    then cast to float. ``corners``: top-left, top-right, bottom-left, bottom-right."""
    tl, tr, bl, br = corners
    one = _F(1)
    upper = ((one - lr) * tl + lr * tr).astype(np.float64)
    lower = ((one - lr) * bl + lr * br).astype(np.float64)
    return ((1.0 - tb) * upper + tb * lower).astype(_F)


def resize_plane_float(src: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """dlib ``resize_image`` of float32 planes ``src`` (..., H, W) to (..., n_rows, n_cols).

    Every leading axis is an independent plane (dlib resizes each tensor channel alone).
    """
    src = np.asarray(src, dtype=_F)
    h, w = src.shape[-2:]
    out = np.zeros((*src.shape[:-2], n_rows, n_cols), dtype=_F)
    if n_rows == 0 or n_cols == 0 or h == 0 or w == 0:
        return out
    top, bottom, tb = _rows(h, n_rows)
    tb_f = tb.astype(_F)[:, None]
    inv_tb_f = (1.0 - tb).astype(_F)[:, None]
    cols, n_simd, xs = _simd_columns(w, n_cols)
    if n_simd:
        corners = tuple(
            _gather(src, r, c) for r in (top, bottom) for c in (cols.lo, cols.hi)
        )
        out[..., :n_simd] = _weighted_sum(
            corners, inv_tb_f, tb_f, cols.inv[None, :], cols.frac[None, :]
        )
    if n_simd < n_cols:
        left, right, lr_d = _tail_columns(w, n_cols, n_simd, xs)
        rt, rb = top[:, None], bottom[:, None]
        corners = (src[..., rt, left], src[..., rt, right], src[..., rb, left], src[..., rb, right])
        out[..., n_simd:] = blend_tail(corners, lr_d.astype(_F)[None, :], tb[:, None])
    return out


def resize_rgb_uint8(image: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """dlib ``resize_image`` of a uint8 RGB image (H, W, 3) -> (n_rows, n_cols, 3)."""
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    out = np.zeros((n_rows, n_cols, 3), dtype=np.uint8)
    if n_rows == 0 or n_cols == 0 or h == 0 or w == 0:
        return out
    planes = np.moveaxis(image, -1, 0).astype(_F)  # (3, H, W)
    top, bottom, tb = _rows(h, n_rows)
    tb_f = tb.astype(_F)[:, None]
    inv_tb_f = (1.0 - tb).astype(_F)[:, None]
    cols, n_simd, xs = _simd_columns(w, n_cols)
    result = np.zeros((3, n_rows, n_cols), dtype=np.float64)
    rt, rb = top[:, None], bottom[:, None]
    if n_simd:
        corners = tuple(
            _gather(planes, r, c) for r in (top, bottom) for c in (cols.lo, cols.hi)
        )
        result[..., :n_simd] = _weighted_sum(
            corners, inv_tb_f, tb_f, cols.inv[None, :], cols.frac[None, :]
        )
    if n_simd < n_cols:
        # scalar tail in double: pixel_to_vector<double>, then static_cast<unsigned char>
        left, right, lr_d = _tail_columns(w, n_cols, n_simd, xs)
        lr = lr_d[None, :]
        pd = planes.astype(np.float64)
        tb_d = tb[:, None]
        upper = (1.0 - lr) * pd[:, rt, left] + lr * pd[:, rt, right]
        lower = (1.0 - lr) * pd[:, rb, left] + lr * pd[:, rb, right]
        result[..., n_simd:] = (1.0 - tb_d) * upper + tb_d * lower
    out[...] = np.moveaxis(np.trunc(result), 0, -1).astype(np.uint8)
    return out
