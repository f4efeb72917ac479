"""dlib's tiled input pyramid as torch ops with constant plans (for a fixed image size).

For one input size everything in ``input_rgb_image_pyramid::to_tensor`` but the pixel values
is fixed (:mod:`faceport.detect.mmod_pyramid`): the level rectangles, the canvas size and,
for every level, which source rows/columns each output pixel blends and with which
weights (:mod:`faceport.detect.mmod_resize` holds dlib's arithmetic). Here those become
small constant index and weight vectors, so the pyramid is gathers, multiplies and adds in
the graph, in dlib's order:

* the 4-lane SIMD columns: float32 weights ``(1-tb)(1-lr)``, ``(1-tb)lr``, ``tb(1-lr)``,
  ``tb*lr`` formed as float32 products of a row and a column factor (the same bits numpy
  and dlib compute), then ``w0*tl + w1*tr + w2*bl + w3*br`` left to right in float32;
* the scalar tail columns: each row pair blended in float32, the two rows in float64, then
  rounded to float32 (``blend_tail``), so the canvas is bit-identical to dlib's;
* ``pyramid_up`` (``upsample_num_times``) of the uint8 RGB image with the RGB kernel: the
  same float32 blend, the tail in float64, truncated to integers.

The weights are formed in the graph from those vectors times a ``1.0`` computed from the
image: a constant product would be folded by the exporters into level-sized weight tables
(about 11 MB at 640x480 and 90 MB at 2 Mpx, for a 0.4 MB network); formed at run time they
cost four multiplies per level pixel. The canvas is assembled from horizontal bands (one
per run of rows the same levels cover) with ``Pad`` and ``Concat``: no canvas-sized
constant, nothing scattered.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceport.detect.mmod_pyramid import TiledPyramid
from faceport.detect.mmod_resize import _F, _rows, _simd_columns, _tail_columns
from faceport.exporters.image_input import planes


class BilinearStep(nn.Module):
    """dlib ``resize_image`` (bilinear, corner aligned) of (C, h, w) planes to ``out_hw``.

    ``rgb=True``: the uint8 RGB kernel (tail blended in float64 from the start, result
    truncated), else the float plane kernel used between pyramid levels.
    """

    top: torch.Tensor
    bottom: torch.Tensor
    tb: torch.Tensor
    inv_tb: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    lr: torch.Tensor
    inv_lr: torch.Tensor
    t_left: torch.Tensor
    t_right: torch.Tensor
    t_lr: torch.Tensor
    t_tb: torch.Tensor

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int], *, rgb: bool) -> None:
        super().__init__()
        (h, w), (n_rows, n_cols) = in_hw, out_hw
        top, bottom, tb = _rows(h, n_rows)
        cols, n_simd, xs = _simd_columns(w, n_cols)
        self.rgb, self.n_simd, self.n_cols = rgb, n_simd, n_cols
        self.register_buffer("top", torch.from_numpy(top))
        self.register_buffer("bottom", torch.from_numpy(bottom))
        self.register_buffer("tb", torch.from_numpy(tb.astype(_F)[None, :]))
        self.register_buffer("inv_tb", torch.from_numpy((1.0 - tb).astype(_F)[None, :]))
        self.register_buffer("lo", torch.from_numpy(cols.lo))
        self.register_buffer("hi", torch.from_numpy(cols.hi))
        self.register_buffer("lr", torch.from_numpy(cols.frac[:, None]))
        self.register_buffer("inv_lr", torch.from_numpy(cols.inv[:, None]))
        left, right, lr_d = _tail_columns(w, n_cols, n_simd, xs)
        self.register_buffer("t_left", torch.from_numpy(left))
        self.register_buffer("t_right", torch.from_numpy(right))
        tail_lr = lr_d[:, None] if rgb else lr_d.astype(_F)[:, None].astype(np.float64)
        self.register_buffer("t_lr", torch.from_numpy(tail_lr))
        self.register_buffer("t_tb", torch.from_numpy(tb[None, :]))

    def forward(self, src: torch.Tensor, one: torch.Tensor) -> torch.Tensor:
        """``one``: a 1.0 computed from the input (see :class:`PyramidInput`).

        Gathers are taken along the outer axis only (whole rows: onnxruntime's ``Gather`` on
        the last axis copies element by element and cost more than the network): the two
        source rows of every output row, transposed, then the two source columns; the blend
        runs in that transposed (C, cols, rows) layout (the same elementwise operations in
        the same order) and one transpose brings the level back."""
        rows = self.rows_of(src).transpose(1, 2)  # (C, w, 2 * n_rows): [upper | lower]
        n = self.top.shape[0]
        parts = []
        if self.n_simd:
            lo, hi = rows.index_select(1, self.lo), rows.index_select(1, self.hi)
            lr, inv_lr = self.lr * one, self.inv_lr * one  # (n_simd, 1)
            acc = (self.inv_tb * inv_lr) * lo[:, :, :n]
            acc = acc + (self.inv_tb * lr) * hi[:, :, :n]
            acc = acc + (self.tb * inv_lr) * lo[:, :, n:]
            acc = acc + (self.tb * lr) * hi[:, :, n:]
            parts.append(torch.floor(acc) if self.rgb else acc)
        if self.n_simd < self.n_cols:
            parts.append(self._tail(rows, n))
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return out.transpose(1, 2)

    def rows_of(self, src: torch.Tensor) -> torch.Tensor:
        return src.index_select(1, torch.cat([self.top, self.bottom]))

    def _tail(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """The scalar tail (transposed layout): row pairs blended (float32 for planes, float64
        for RGB), rows in float64, then float32 (planes) or truncated (RGB)."""
        left, right = rows.index_select(1, self.t_left), rows.index_select(1, self.t_right)
        lr = self.t_lr
        if self.rgb:
            left, right = left.double(), right.double()
            inv_lr = 1.0 - lr
        else:
            lr, inv_lr = lr.float(), (1.0 - lr).float()
        upper = inv_lr * left[:, :, :n] + lr * right[:, :, :n]
        lower = inv_lr * left[:, :, n:] + lr * right[:, :, n:]
        mixed = (1.0 - self.t_tb) * upper.double() + self.t_tb * lower.double()
        return torch.floor(mixed).float() if self.rgb else mixed.float()


def level_sizes(layout: TiledPyramid) -> list[tuple[int, int]]:
    return [(b - t + 1, r - left + 1) for left, t, r, b in layout.rects]


class TiledCanvas(nn.Module):
    """Places every level at its rectangle of a zero canvas (rows, cols), band by band."""

    def __init__(self, layout: TiledPyramid) -> None:
        super().__init__()
        self.rows, self.cols = layout.rows, layout.cols
        self.rects = list(layout.rects)
        edges = sorted({y for _, t, _, b in layout.rects for y in (t, b + 1)})
        self.bands: list[tuple[int, int, list[int]]] = []
        for y0, y1 in itertools.pairwise(edges):
            active = [i for i, (_, t, _, b) in enumerate(self.rects) if t <= y0 and b >= y1 - 1]
            if active:
                self.bands.append((y0, y1, sorted(active, key=lambda i: self.rects[i][0])))

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        rows = []
        cursor = 0
        for y0, y1, active in self.bands:
            parts, x = [], 0
            for i in active:
                left, top, right, _ = self.rects[i]
                parts.append(F.pad(levels[i][:, y0 - top : y1 - top, :], (left - x, 0)))
                x = right + 1
            band = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
            rows.append(F.pad(band, (0, self.cols - x, y0 - cursor, 0)))
            cursor = y1
        canvas = torch.cat(rows, dim=1)
        return F.pad(canvas, (0, 0, 0, self.rows - cursor))


class PyramidInput(nn.Module):
    """uint8 (H, W, 3) -> dlib's input tensor (1, 3, rows, cols) for ``layout`` (``flip``: the
    image is BGR).

    ``upsample`` ``pyramid_up`` steps first (sizes ``up_sizes``), then level 0 is
    ``(pixel - mean) / 256`` and level ``i`` the float resize of level ``i - 1``.
    """

    mean: torch.Tensor

    def __init__(
        self, layout: TiledPyramid, mean_rgb: tuple[float, float, float],
        up_sizes: list[tuple[int, int]], *, flip: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.flip = bool(flip)
        mean = torch.tensor(list(mean_rgb), dtype=torch.float32)[:, None, None]
        self.register_buffer("mean", mean)
        self.up = nn.ModuleList(
            BilinearStep(a, b, rgb=True) for a, b in itertools.pairwise(up_sizes)
        )
        sizes = level_sizes(layout)
        self.down = nn.ModuleList(
            BilinearStep(a, b, rgb=False) for a, b in itertools.pairwise(sizes)
        )
        self.canvas = TiledCanvas(layout)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = planes(image, self.flip)
        one = x[0, :1, :1] * 0.0 + 1.0  # exact 1.0 (pixels are finite)
        for step in self.up:
            x = step(x, one)
        level = (x - self.mean) / 256.0
        levels = [level]
        for step in self.down:
            level = step(level, one)
            levels.append(level)
        return self.canvas(levels).unsqueeze(0)
