"""The tiled pyramid of :mod:`.mmod_pyramid`, planned once per image size and filled fast.

``input_rgb_image_pyramid::to_tensor`` resizes every level from the one before it with
dlib's float bilinear kernel (:func:`.mmod_resize.resize_plane_float` holds the semantics).
For a given input size everything but the pixel values is fixed: the layout, and for each
level the four source corners of every output pixel and their four float32 weights
(``(1-tb)(1-lr)``, ``(1-tb)lr``, ``tb(1-lr)``, ``tb*lr``). A :class:`PyramidPlan` holds those
as flat indices into the canvas and weight matrices, so filling a level is four ``take`` s,
four multiplies and three adds in dlib's order (bit-identical to the reference path), written
straight into the canvas. Plans are cached per (rows, cols, padding, outer_padding, down):
detecting on frames of one size re-plans nothing.

Large levels are split by output rows between the calling thread and one worker (numpy
releases the GIL in ``take`` and in the ufuncs), since each level depends on the whole of
the one before it the split is per level. The few columns dlib finishes with its scalar
loop (the "tail") are computed by the reference code on the level's source plane.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from faceport.detect.mmod_resize import _F, _rows, _simd_columns, _tail_columns, blend_tail
from faceport.workers import worker

_SPLIT_MIN_VALUES = 60_000  # below this per level, one thread is faster than two


@dataclass(frozen=True)
class _LevelPlan:
    """How one level (``dst`` rect) is resized from the previous one (``src`` rect)."""

    src: tuple[int, int, int, int]  # left, top, right, bottom (inclusive)
    dst: tuple[int, int, int, int]
    n_simd: int
    corners: tuple[np.ndarray, ...]  # 4 x (rows, n_simd) intp flat canvas indices
    weights: tuple[np.ndarray, ...]  # 4 x (rows, n_simd) float32
    tail_corners: tuple[np.ndarray, ...]  # 4 x (rows, n_tail) intp: top-left, top-right, ...
    tail_lr: np.ndarray  # (1, n_tail) float32 column fraction
    tail_tb: np.ndarray  # (rows, 1) float64 row fraction

    @property
    def rows(self) -> int:
        return self.dst[3] - self.dst[1] + 1

    @property
    def cols(self) -> int:
        return self.dst[2] - self.dst[0] + 1


def plan_level(
    src: tuple[int, int, int, int], dst: tuple[int, int, int, int], canvas_cols: int
) -> _LevelPlan:
    """Corners and weights of dlib's SIMD resize from rect ``src`` to rect ``dst``."""
    h, w = src[3] - src[1] + 1, src[2] - src[0] + 1
    n_rows, n_cols = dst[3] - dst[1] + 1, dst[2] - dst[0] + 1
    top, bottom, tb = _rows(h, n_rows)
    cols, n_simd, _ = _simd_columns(w, n_cols)
    tb_f = tb.astype(_F)[:, None]
    inv_tb_f = (1.0 - tb).astype(_F)[:, None]
    lr, inv_lr = cols.frac[None, :], cols.inv[None, :]
    weights = (inv_tb_f * inv_lr, inv_tb_f * lr, tb_f * inv_lr, tb_f * lr)
    base_rows = [(src[1] + r) * canvas_cols for r in (top, bottom)]

    def flat(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (rows[:, None] + (src[0] + cols)[None, :]).astype(np.intp)

    corners = tuple(flat(r, c) for r in base_rows for c in (cols.lo, cols.hi))
    t_left, t_right, t_lr = _tail_columns(w, n_cols, n_simd, (w - 1) / max(n_cols - 1, 1))
    tail = tuple(flat(r, c) for r in base_rows for c in (t_left, t_right))
    return _LevelPlan(src, dst, n_simd, corners, weights, tail, t_lr.astype(_F)[None, :],
                      tb[:, None])


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 buffers of ``shape``, reused per thread (fresh large allocations are
    page-faulted in on every level and cost more than the arithmetic)."""
    size = int(np.prod(shape))
    held = getattr(_SCRATCH, "buffers", None)
    if held is None or held[0].size < size:
        held = (np.empty(size, dtype=_F), np.empty(size, dtype=_F))
        _SCRATCH.buffers = held
    return held[0][:size].reshape(shape), held[1][:size].reshape(shape)


def _fill_simd(flat: np.ndarray, out: np.ndarray, plan: _LevelPlan, r0: int, r1: int) -> None:
    """Rows ``r0:r1`` of the level's SIMD columns: ``w0*c0 + w1*c1 + w2*c2 + w3*c3`` in
    float32, left to right (``flat``: (C, rows*cols) canvas, ``out``: (C, rows, n_simd)).
    ``mode="clip"`` only skips numpy's copy-on-error buffering: the indices are in range."""
    acc, term = _scratch((flat.shape[0], r1 - r0, plan.n_simd))
    np.take(flat, plan.corners[0][r0:r1], axis=1, out=acc, mode="clip")
    acc *= plan.weights[0][r0:r1]
    for k in (1, 2, 3):
        np.take(flat, plan.corners[k][r0:r1], axis=1, out=term, mode="clip")
        term *= plan.weights[k][r0:r1]
        acc += term
    out[:, r0:r1] = acc


def _fill_tail(flat: np.ndarray, canvas: np.ndarray, plan: _LevelPlan) -> None:
    """dlib's scalar tail columns (:func:`.mmod_resize.blend_tail`) from precomputed corners."""
    corners = tuple(np.take(flat, c, axis=1, mode="clip") for c in plan.tail_corners)
    dl, dt, _, db = plan.dst
    canvas[:, dt : db + 1, dl + plan.n_simd : dl + plan.cols] = blend_tail(
        corners, plan.tail_lr, plan.tail_tb
    )


@dataclass(frozen=True)
class PyramidPlan:
    """Every level's plan for one canvas (rows x cols); ``level0`` is the image's rect."""

    rows: int
    cols: int
    level0: tuple[int, int, int, int]
    levels: tuple[_LevelPlan, ...]

    def fill(self, canvas: np.ndarray, *, threads: bool = True) -> None:
        """Resize level 0 (already in ``canvas`` (C, rows, cols)) into every other level."""
        flat = canvas.reshape(canvas.shape[0], -1)
        for plan in self.levels:
            dl, dt, _, db = plan.dst
            if plan.n_simd:
                out = canvas[:, dt : db + 1, dl : dl + plan.n_simd]
                rows = plan.rows
                if threads and rows > 1 and canvas.shape[0] * rows * plan.n_simd >= (
                    _SPLIT_MIN_VALUES
                ):
                    half = rows // 2
                    other = worker("pyramid").submit(_fill_simd, flat, out, plan, half, rows)
                    _fill_simd(flat, out, plan, 0, half)
                    other.result()
                else:
                    _fill_simd(flat, out, plan, 0, rows)
            if plan.n_simd < plan.cols:
                _fill_tail(flat, canvas, plan)


@lru_cache(maxsize=16)
def pyramid_plan(
    rects: tuple[tuple[int, int, int, int], ...], rows: int, cols: int
) -> PyramidPlan:
    """The (cached) plan for a tiled layout: level ``i`` is resized from level ``i - 1``."""
    levels = tuple(plan_level(rects[i - 1], rects[i], cols) for i in range(1, len(rects)))
    return PyramidPlan(rows, cols, rects[0], levels)
