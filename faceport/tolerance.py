"""The tolerance table, keyed by compute dtype and device.

An output passes when, elementwise, ``|out - ref| <= atol + rtol * |ref|`` (numpy.isclose's
rule). ``atol`` is scaled by the reference's max magnitude when ``relative_to_scale`` is set,
so that a layer whose activations are in the thousands is judged like one in the units.

| dtype    | device | atol  | rtol  | why                                               |
|----------|--------|-------|-------|---------------------------------------------------|
| float32  | cpu    | 1e-4  | 1e-4  | different summation order (oneDNN vs BLAS)        |
| float32  | cuda   | 1e-4  | 1e-3  | TF32 is off; cuDNN algorithm choice               |
| float16  | any    | 2e-2  | 2e-2  | 10-bit mantissa accumulated over a network        |
| bfloat16 | any    | 8e-2  | 8e-2  | 7-bit mantissa                                    |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    relative_to_scale: bool = True

    def __str__(self) -> str:
        scale = " x max|ref|" if self.relative_to_scale else ""
        return f"atol={self.atol:g}{scale}, rtol={self.rtol:g}"


TABLE: dict[tuple[str, str], Tolerance] = {
    ("float32", "cpu"): Tolerance(1e-4, 1e-4),
    ("float32", "cuda"): Tolerance(1e-4, 1e-3),
    ("float16", "cpu"): Tolerance(2e-2, 2e-2),
    ("float16", "cuda"): Tolerance(2e-2, 2e-2),
    ("bfloat16", "cpu"): Tolerance(8e-2, 8e-2),
    ("bfloat16", "cuda"): Tolerance(8e-2, 8e-2),
}


def tolerance_for(dtype: str = "float32", device: str = "cpu") -> Tolerance:
    """The documented tolerance for a compute ``dtype`` on ``device`` (``cuda:1`` -> cuda)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return TABLE.get((dtype, kind), TABLE[("float32", kind)])
