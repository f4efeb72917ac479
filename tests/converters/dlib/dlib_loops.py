"""Independent numpy references for dlib layers, transcribed from dlib's C++ CPU loops
(dlib/cuda/cpu_dlib.cpp, tensor_tools.cpp, image_transforms/interpolation.h, dnn/layers.h).

Plain loops over small float64 tensors, deliberately not vectorised like the converters, so
a shared misreading of dlib cannot hide in both. Tensors are (N, k, nr, nc).
"""

from __future__ import annotations

import math

import numpy as np


def conv(x, w, b, sy, sx, py, px, relu=False):
    """tensor_conv: img2col cross-correlation, zero padding, out 1+(H+2p-nr)/s (floor)."""
    n_, k_, h, wd = x.shape
    f, _, nr, nc = w.shape
    oh, ow = 1 + (h + 2 * py - nr) // sy, 1 + (wd + 2 * px - nc) // sx
    out = np.zeros((n_, f, oh, ow))
    for n in range(n_):
        for o in range(f):
            for r in range(oh):
                for c in range(ow):
                    acc = 0.0
                    for k in range(k_):
                        for i in range(nr):
                            for j in range(nc):
                                y, xx = r * sy - py + i, c * sx - px + j
                                if 0 <= y < h and 0 <= xx < wd:
                                    acc += w[o, k, i, j] * x[n, k, y, xx]
                    out[n, o, r, c] = acc + (0.0 if b is None else b[o])
    return np.maximum(out, 0) if relu else out


def cont(x, w, b, sy, sx, py, px):
    """cont_: get_gradient_for_data (col2img scatter) into a stride*(H-1)+nr-2p output."""
    n_, k_, h, wd = x.shape
    _, f, nr, nc = w.shape
    oh, ow = sy * (h - 1) + nr - 2 * py, sx * (wd - 1) + nc - 2 * px
    out = np.zeros((n_, f, oh, ow))
    for n in range(n_):
        for k in range(k_):
            for r in range(h):
                for c in range(wd):
                    for o in range(f):
                        for i in range(nr):
                            for j in range(nc):
                                y, xx = r * sy - py + i, c * sx - px + j
                                if 0 <= y < oh and 0 <= xx < ow:
                                    out[n, o, y, xx] += x[n, k, r, c] * w[k, o, i, j]
    if b is not None:
        out += np.asarray(b).reshape(1, -1, 1, 1)
    return out


def pool(x, mode, nr, nc, sy, sx, py, px):
    """pooling::operator(): centered_rect window clipped to the image, max or mean."""
    n_, k_, h, wd = x.shape
    wh, ww = (nr or h), (nc or wd)
    oh, ow = 1 + (h + 2 * py - wh) // sy, 1 + (wd + 2 * px - ww) // sx
    out = np.zeros((n_, k_, oh, ow))
    yoff, xoff = wh // 2 - py, ww // 2 - px
    for n in range(n_):
        for k in range(k_):
            for r in range(oh):
                for c in range(ow):
                    top = r * sy + yoff - wh // 2  # centered_rect: left = x - width/2
                    left = c * sx + xoff - ww // 2
                    vals = [
                        x[n, k, i, j]
                        for i in range(max(top, 0), min(top + wh, h))
                        for j in range(max(left, 0), min(left + ww, wd))
                    ]
                    out[n, k, r, c] = max(vals) if mode == "max" else sum(vals) / len(vals)
    return out


def fc(x, w, b):
    """fc_: gemm of the (N, k*nr*nc) input with W (num_inputs, num_outputs), + b."""
    flat = x.reshape(x.shape[0], -1)
    out = np.zeros((x.shape[0], w.shape[1]))
    for n in range(flat.shape[0]):
        for o in range(w.shape[1]):
            out[n, o] = sum(flat[n, i] * w[i, o] for i in range(flat.shape[1]))
            out[n, o] += 0.0 if b is None else b[o]
    return out.reshape(x.shape[0], -1, 1, 1)


def bn_inference(x, g, b, m, v, eps, conv_mode):
    """batch_normalize(_conv)_inference: g*(x-m)/sqrt(v+eps)+b per channel or element."""
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for k in range(x.shape[1]):
            for r in range(x.shape[2]):
                for c in range(x.shape[3]):
                    i = k if conv_mode else (k * x.shape[2] + r) * x.shape[3] + c
                    out[n, k, r, c] = g[i] * (x[n, k, r, c] - m[i]) / math.sqrt(v[i] + eps) + b[i]
    return out


def sample_norm(x, g, b, eps, rms):
    """layer_normalize (one-pass var E[x^2]-E[x]^2) or rms_normalize, gamma/beta per k."""
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        vals = x[n].ravel()
        mean, msq = sum(vals) / vals.size, sum(v * v for v in vals) / vals.size
        for k in range(x.shape[1]):
            if rms:
                out[n, k] = x[n, k] / math.sqrt(msq + eps) * g[k]
            else:
                out[n, k] = (x[n, k] - mean) / math.sqrt(msq - mean * mean + eps) * g[k] + b[k]
    return out


def l2normalize(x, eps):
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        out[n] = x[n] / math.sqrt(sum(v * v for v in x[n].ravel()) + eps)
    return out


ELEMENTWISE = {
    "relu": lambda s, a: s if s > 0 else 0.0,
    "leaky_relu": lambda s, a: s if s > 0 else a * s,
    "prelu": lambda s, a: s if s > 0 else a * s,
    "sig": lambda s, a: 1.0 / (1.0 + math.exp(-s)),
    "htan": lambda s, a: math.tanh(s),
    "elu": lambda s, a: s if s > 0 else a * (math.exp(s) - 1.0),
    "gelu": lambda s, a: 0.5 * s * (1.0 + math.erf(s / math.sqrt(2.0))),
    "mish": lambda s, a: s - 2 * s / (2 * math.exp(s) + math.exp(s) ** 2 + 2),
    "clipped_relu": lambda s, a: min(max(s, 0.0), a),
    "smelu": lambda s, a: s if s >= a else 0.0 if s <= -a else (s + a) ** 2 / (4 * a),
    "silu": lambda s, a: s / (1.0 + math.exp(-s)),
    "multiply": lambda s, a: s * a,
}


def elementwise(x, kind, a=0.0):
    return np.vectorize(lambda s: ELEMENTWISE[kind](float(s), a))(x)


def softmax(x, mode):
    """ttimpl::softmax: channel_wise over k per location; plane_wise over each row."""
    out = np.zeros_like(x)
    for n in range(x.shape[0]):
        if mode == "all":
            v = x[n].ravel()
            e = np.exp(v - v.max())
            out[n] = (e / e.sum()).reshape(x[n].shape)
            continue
        for r in range(x.shape[2]):
            if mode == "channel_wise":
                for c in range(x.shape[3]):
                    v = x[n, :, r, c]
                    e = np.exp(v - v.max())
                    out[n, :, r, c] = e / e.sum()
            else:
                for k in range(x.shape[1]):
                    v = x[n, k, r, :]
                    if np.all(np.isneginf(v)):
                        continue  # dlib writes zeros for an all -inf row
                    e = np.exp(v - v.max())
                    out[n, k, r, :] = e / e.sum()
    return out


def zero_padded(a, b, op):
    """tt::add / tt::multiply_zero_padded bounds-checked branch on the max shape."""
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
    out = np.zeros(shape)
    for idx in np.ndindex(*shape):
        ina = all(i < s for i, s in zip(idx, a.shape))
        inb = all(i < s for i, s in zip(idx, b.shape))
        v1 = a[idx] if ina else 0.0
        v2 = b[idx] if inb else 0.0
        out[idx] = v1 + v2 if op == "add" else v1 * v2
    return out


def resize_bilinear(x, onr, onc):
    """resize_image(interpolate_bilinear): y stepped by (in-1)/max(out-1,1) in double."""
    n_, k_, h, w = x.shape
    out = np.zeros((n_, k_, onr, onc))
    xs, ys = (w - 1) / max(onc - 1, 1), (h - 1) / max(onr - 1, 1)
    for n in range(n_):
        for k in range(k_):
            y = -ys
            for r in range(onr):
                y += ys
                top = math.floor(y)
                bottom = min(top + 1, h - 1)
                tb = y - top
                xx = -xs
                for c in range(onc):
                    xx += xs
                    left = math.floor(xx)
                    right = min(left + 1, w - 1)
                    lr = xx - left
                    img = x[n, k]
                    upper = (1 - lr) * img[top, left] + lr * img[top, right]
                    lower = (1 - lr) * img[bottom, left] + lr * img[bottom, right]
                    out[n, k, r, c] = (1 - tb) * upper + tb * lower
    return out


def extract(x, offset, k, nr, nc):
    out = np.zeros((x.shape[0], k * nr * nc))
    for n in range(x.shape[0]):
        flat = x[n].ravel()
        for i in range(k * nr * nc):
            out[n, i] = flat[offset + i]
    return out.reshape(x.shape[0], k, nr, nc)


def reorg(x, rs, cs):
    """cpu::reorg index mapping, one destination element at a time."""
    n_, sk, h, w = x.shape
    dk, dh, dw = sk * rs * cs, h // rs, w // cs
    out = np.zeros((n_, dk, dh, dw))
    for n, ok, r, c in np.ndindex(n_, dk, dh, dw):
        in_k = ok % sk
        in_r = r * rs + (ok // sk) // cs
        in_c = c * cs + (ok // sk) % cs
        out[n, ok, r, c] = x[n, in_k, in_r, in_c]
    return out


def tril(x, diag, diag_value):
    out = x.copy()
    for n, k, r in np.ndindex(*x.shape[:3]):
        for c in range(max(r + diag + 1, 0), x.shape[3]):
            out[n, k, r, c] = x[n, k, r, c] * 0.0 + diag_value
    return out


def positional_encodings(x):
    out = x.copy()
    nc = x.shape[3]
    for n, k, r, c in np.ndindex(*x.shape):
        theta = r / 10000.0 ** (c / nc)
        out[n, k, r, c] += math.sin(theta) if c % 2 == 0 else math.cos(theta)
    return out


def embeddings(x, table):
    out = np.zeros((*x.shape[:3], table.shape[1]))
    for n, k, r in np.ndindex(*x.shape[:3]):
        tok = int(x[n, k, r, 0])
        if 0 <= tok < table.shape[0]:
            out[n, k, r] = table[tok]
    return out
