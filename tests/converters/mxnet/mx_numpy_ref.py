"""Independent numpy implementations of MXNet op semantics (float64), for the converter tests.

Written from MXNet's operator documentation, not from faceport's converters: loops and
sliding windows, no torch.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, int],
           pad: tuple[int, int], dilate: tuple[int, int], groups: int) -> np.ndarray:
    """MXNet Convolution: x (N, C, H, W), w (F, C/g, kh, kw)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    f, cg, kh, kw = w.shape
    eh, ew = dilate[0] * (kh - 1) + 1, dilate[1] * (kw - 1) + 1
    win = sliding_window_view(x, (eh, ew), axis=(2, 3))[..., :: dilate[0], :: dilate[1]]
    win = win[:, :, :: stride[0], :: stride[1]]  # (N, C, OH, OW, kh, kw)
    outs = []
    fg = f // groups
    for g in range(groups):
        part = win[:, g * cg : (g + 1) * cg]
        outs.append(np.einsum("nchwij,fcij->nfhw", part, w[g * fg : (g + 1) * fg]))
    out = np.concatenate(outs, axis=1)
    return out if b is None else out + b[None, :, None, None]


def deconv2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pad: tuple[int, int],
             adj: tuple[int, int], groups: int = 1) -> np.ndarray:
    """MXNet Deconvolution by scattering: w (C, F/g, kh, kw); out (H-1)s - 2p + k + adj."""
    n, c, h, wd = x.shape
    _, fg, kh, kw = w.shape
    full = np.zeros((n, fg * groups, (h - 1) * stride[0] + kh + adj[0],
                     (wd - 1) * stride[1] + kw + adj[1]))
    cg = c // groups
    for ci in range(c):
        g = ci // cg
        for i in range(h):
            for j in range(wd):
                y0, x0 = i * stride[0], j * stride[1]
                full[:, g * fg : (g + 1) * fg, y0 : y0 + kh, x0 : x0 + kw] += (
                    x[:, ci, i, j][:, None, None, None] * w[ci][None]
                )
    oh = (h - 1) * stride[0] - 2 * pad[0] + kh + adj[0]
    ow = (wd - 1) * stride[1] - 2 * pad[1] + kw + adj[1]
    return full[:, :, pad[0] : pad[0] + oh, pad[1] : pad[1] + ow]


def pool2d(x: np.ndarray, kind: str, kernel: tuple[int, int], stride: tuple[int, int],
           pad: tuple[int, int], full: bool, include_pad: bool) -> np.ndarray:
    """MXNet Pooling (2-d): window loops with MXNet's clipping of the averaging window."""
    n, c, h, w = x.shape
    sizes = []
    for d, k, s, p in ((h, kernel[0], stride[0], pad[0]), (w, kernel[1], stride[1], pad[1])):
        span = (d + 2 * p - k) / s
        sizes.append(1 + (math.ceil(span) if full else math.floor(span)))
    out = np.zeros((n, c, sizes[0], sizes[1]))
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            hs, ws = i * stride[0] - pad[0], j * stride[1] - pad[1]
            he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
            count = (he - hs) * (we - ws)
            hs0, ws0, he0, we0 = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            window = x[:, :, hs0:he0, ws0:we0]
            if kind == "max":
                out[:, :, i, j] = window.max(axis=(2, 3))
            elif kind == "sum":
                out[:, :, i, j] = window.sum(axis=(2, 3))
            else:
                denom = count if include_pad else (he0 - hs0) * (we0 - ws0)
                out[:, :, i, j] = window.sum(axis=(2, 3)) / denom
    return out


def batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
               var: np.ndarray, eps: float) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(
        shape) + beta.reshape(shape)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
