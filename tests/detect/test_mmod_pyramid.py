"""dlib's resize kernels and tiled pyramid, checked bit for bit against dlib where it can be."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceport.detect.mmod_pyramid import (
    image_to_tensor,
    level_size,
    lround,
    pyramid_up_size,
    rect_down_2,
    tiled_pyramid_layout,
)
from faceport.detect.mmod_resize import resize_plane_float, resize_rgb_uint8
from faceport.errors import FaceportError


def _dlib():
    try:
        import dlib
    except ImportError:
        pytest.skip("dlib is not installed (pip install dlib-bin)")
    return dlib


def _sizes(seed: int, n: int) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(2, 70, size=2))
        oh, ow = (int(v) for v in rng.integers(2, 150, size=2))
        out.append((h, w, oh, ow))
    # the shapes the detector produces: pyramid_down<6> levels and pyramid_up
    out += [(h, w, *level_size(6, h, w)) for h, w in [(512, 512), (61, 97), (12, 7)]]
    out += [(h, w, *pyramid_up_size(h, w)) for h, w in [(33, 50), (8, 9)]]
    return out


@pytest.mark.reference
@pytest.mark.parametrize("h,w,oh,ow", _sizes(1, 40))
def test_float_resize_is_bit_exact_with_dlib(h: int, w: int, oh: int, ow: int) -> None:
    dlib = _dlib()
    src = (np.random.default_rng(h * 1000 + w).standard_normal((h, w)) * 0.4).astype(np.float32)
    ref = dlib.resize_image(src, oh, ow)
    out = resize_plane_float(src, oh, ow)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)


@pytest.mark.reference
@pytest.mark.parametrize("h,w,oh,ow", _sizes(2, 40))
def test_rgb_resize_is_bit_exact_with_dlib(h: int, w: int, oh: int, ow: int) -> None:
    dlib = _dlib()
    img = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_rgb_uint8(img, oh, ow), dlib.resize_image(img, oh, ow))


@pytest.mark.reference
@pytest.mark.parametrize("rows,cols", [(512, 512), (332, 500), (37, 23)])
def test_level_sizes_match_dlib_pyramid_down_6(rows: int, cols: int) -> None:
    dlib = _dlib()
    pyr = dlib.pyramid_down(6)
    img = np.zeros((rows, cols), dtype=np.uint8)
    layout = tiled_pyramid_layout(rows, cols, padding=10, outer_padding=11, down=6)
    for left, top, right, bottom in layout.rects[1:]:
        img = pyr(img)
        assert (bottom - top + 1, right - left + 1) == img.shape


def test_layout_of_512_square() -> None:
    """Hand-derived from compute_tiled_image_pyramid_details (padding 10, outer 11)."""
    layout = tiled_pyramid_layout(512, 512, padding=10, outer_padding=11, down=6)
    heights = [512]
    while (h := math.floor(5 / 6 * heights[-1])) >= 5:
        heights.append(h)
    assert layout.rects[0] == (11, 11, 522, 522)
    assert layout.rects[1] == (11, 533, 11 + 426 - 1, 533 + 426 - 1)
    assert layout.cols == 512 + 22
    # every level inside the canvas, no two levels overlap, sizes shrink by floor(5/6)
    for i, (l, t, r, b) in enumerate(layout.rects):
        assert 0 <= l <= r < layout.cols and 0 <= t <= b < layout.rows
        assert b - t + 1 == heights[i]
        for l2, t2, r2, b2 in layout.rects[i + 1 :]:
            assert max(l, l2) > min(r, r2) or max(t, t2) > min(b, b2)


def test_tensor_level0_is_mean_subtracted_over_256_and_padding_is_zero() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    mean = (122.782, 117.001, 104.298)
    tensor, layout = image_to_tensor(img, mean, padding=10, outer_padding=11, down=6)
    l, t, r, b = layout.rects[0]
    expected = (img.astype(np.float32) - np.float32(mean)) / np.float32(256)
    np.testing.assert_array_equal(tensor[0, :, t : b + 1, l : r + 1], expected.transpose(2, 0, 1))
    mask = np.ones(tensor.shape[2:], dtype=bool)
    for l, t, r, b in layout.rects:
        mask[t : b + 1, l : r + 1] = False
    assert not tensor[0][:, mask].any()


def test_pyramid_up_size_and_rect_down() -> None:
    # rect_up of (0, 0, nc-1, nr-1): right = lround(2nc + 0.5), bottom = lround(2nr - 0.5)
    assert pyramid_up_size(10, 20) == (21, 42)
    assert lround(2.5) == 3 and lround(-2.5) == -3 and lround(1.49) == 1
    boxes = np.array([[100.0, 50.0, 179.0, 129.0]])
    np.testing.assert_array_equal(rect_down_2(boxes, 1), [[49.0, 24.0, 88.0, 64.0]])
    np.testing.assert_array_equal(rect_down_2(boxes, 0), boxes)


def test_rejects_non_rgb_and_small_pyramid_factor() -> None:
    with pytest.raises(FaceportError, match="uint8 RGB"):
        image_to_tensor(np.zeros((5, 5), np.float32), (0, 0, 0), padding=1, outer_padding=1,
                        down=6)
    with pytest.raises(FaceportError, match="pyramid_down<2>"):
        level_size(2, 10, 10)


@pytest.mark.parametrize("seed", range(4))
def test_planned_pyramid_is_bit_identical_to_level_by_level(seed: int) -> None:
    """The cached-plan fill (threaded on large levels) equals resize_plane_float chained."""
    rng = np.random.default_rng(seed)
    sizes = [(480, 640), (5, 5), (6, 211), (211, 6)] if seed == 0 else []
    sizes += [tuple(int(v) for v in rng.integers(5, 400, 2)) for _ in range(4)]
    mean = (122.782, 117.001, 104.298)
    for rows, cols in sizes:
        img = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        fast, layout = image_to_tensor(img, mean, padding=10, outer_padding=11, down=6)
        slow, _ = image_to_tensor(img, mean, padding=10, outer_padding=11, down=6,
                                  reference=True)
        assert len(layout.rects) >= 1
        np.testing.assert_array_equal(fast.view(np.uint32), slow.view(np.uint32))


def test_reused_canvas_gives_fresh_results() -> None:
    rng = np.random.default_rng(7)
    mean = (122.782, 117.001, 104.298)
    a, b = (rng.integers(0, 256, (90, 120, 3), dtype=np.uint8) for _ in range(2))
    first, _ = image_to_tensor(a, mean, padding=10, outer_padding=11, down=6)
    again, _ = image_to_tensor(b, mean, padding=10, outer_padding=11, down=6, canvas=first)
    assert again is first  # written in place
    fresh, _ = image_to_tensor(b, mean, padding=10, outer_padding=11, down=6)
    np.testing.assert_array_equal(again, fresh)
    other, _ = image_to_tensor(a[:50], mean, padding=10, outer_padding=11, down=6, canvas=first)
    assert other is not first and other.shape != first.shape
