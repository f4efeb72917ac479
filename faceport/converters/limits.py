"""Bounds every reader applies to a shape read from a file, before numpy sees it.

A reader checks that a shape's element count fits the bytes present; that is not enough:
a shape holding a 0 has no elements whatever its other dims, so ``(0, 2**62, 2**62)``
passes a byte check with 0 bytes, and numpy then refuses it (``array is too big``, an
``OverflowError`` for a dim past int64) because it bounds the product of the non-zero
dims. :func:`shape_problem` is that check done first, with Python ints (no overflow),
against limits no real model comes near.
"""

from __future__ import annotations

from collections.abc import Sequence

#: the largest single dimension accepted (every dim of every real model is far smaller)
MAX_DIM = 2**31
#: the largest element count of one array, 0 dims left out (numpy's own bound counts them so)
MAX_ELEMENTS = 2**40
#: the ``expected`` of an error for a shape :func:`shape_problem` refused
SHAPE_LIMITS = f"dims in 0..{MAX_DIM}, at most {MAX_ELEMENTS} elements"


def shape_problem(dims: Sequence[int]) -> str | None:
    """``None`` if ``dims`` is a shape numpy can make, else what is wrong with it.

    Each dim must be an int in ``0..MAX_DIM`` and the product of the non-zero dims at most
    ``MAX_ELEMENTS`` (so even an empty array's shape is one numpy accepts)."""
    product = 1
    for index, dim in enumerate(dims):
        if not isinstance(dim, int) or isinstance(dim, bool):
            return f"dim {index} is not an integer"
        if not 0 <= dim <= MAX_DIM:
            return f"dim {index} is {dim}, outside 0..{MAX_DIM}"
        if dim:
            product *= dim
    if product > MAX_ELEMENTS:
        return f"{product} elements (zero dims aside), more than {MAX_ELEMENTS}"
    return None
