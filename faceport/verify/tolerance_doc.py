"""Render ``docs/tolerances.md`` from the tolerance table (``python -m
faceport.verify.tolerance_doc > docs/tolerances.md``; a test checks the file is current)."""

from __future__ import annotations

import sys

import numpy as np

from faceport.tolerance import TABLE
from faceport.verify.compare import compare_descriptors
from faceport.verify.matrix import VerifyOptions

#: why each (dtype, device) tolerance is what it is
WHY = {
    ("float32", "cpu"): "different summation order (oneDNN, MLAS, BLAS, dlib's own loops)",
    ("float32", "cuda"): "TF32 off; cuDNN picks different algorithms (Winograd, FFT)",
    ("float16", "cpu"): "10-bit mantissa accumulated over a network",
    ("float16", "cuda"): "10-bit mantissa accumulated over a network",
    ("bfloat16", "cpu"): "7-bit mantissa",
    ("bfloat16", "cuda"): "7-bit mantissa",
}


def _scale(relative: bool) -> str:
    return "x max abs(ref)" if relative else "absolute"


def render() -> str:
    opts = VerifyOptions()
    desc = compare_descriptors(np.ones(1), np.ones(1))
    rows = [
        f"| {dtype} | {device} | {tol.atol:g} | {tol.rtol:g} | "
        f"{_scale(tol.relative_to_scale)} | {WHY.get((dtype, device), '')} |"
        for (dtype, device), tol in sorted(TABLE.items())
    ]
    return "\n".join(
        [
            "# Parity tolerances",
            "",
            "Generated from `faceport/tolerance.py` by `python -m "
            "faceport.verify.tolerance_doc > docs/tolerances.md`; do not edit by hand "
            "(tests/verify/test_report.py checks it is current).",
            "",
            "## Raw outputs and per-layer tensors",
            "",
            "An element passes when `abs(out - ref) <= atol_eff + rtol * abs(ref)`",
            "(numpy.isclose's rule), where `atol_eff = atol x max abs(ref)` when the tolerance",
            "is scaled, so a layer",
            "whose activations are in the thousands is judged like one in the units. The",
            "tolerance is that of the *candidate* backend's compute dtype and device; the",
            "baseline is the source framework when it runs, else faceport's torch CPU graph.",
            "Per-layer localisation uses the float32 CPU row and reports the first layer with",
            "any mismatching element.",
            "",
            "| dtype | device | atol | rtol | atol scale | why |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "Every comparison also records max-abs, max-rel, mean and median/p99 absolute",
            "error, the mismatch count and the worst element's index and values.",
            "",
            "## Detections",
            "",
            "Detections are matched one-to-one, greedily by IoU (pairs below IoU 0.5 stay",
            "unmatched). They pass when both sides have the same count, all are matched,",
            f"every matched pair has IoU >= {opts.min_iou:g} and every score differs by at most",
            f"{opts.max_dscore:g}. Recall, precision and the landmark error (px) are reported.",
            "",
            "## Descriptors",
            "",
            f"Embeddings pass with cosine similarity >= {desc.min_cosine:g} and L2 distance",
            f"<= {desc.max_l2:g}.",
            "",
        ]
    )


if __name__ == "__main__":
    sys.stdout.write(render())
