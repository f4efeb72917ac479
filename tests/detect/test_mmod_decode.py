"""loss_mmod decoding: layer coordinate maps, tensor_to_dets and dlib's NMS rules."""

from __future__ import annotations

import numpy as np
import pytest

from faceport.detect.mmod_decode import (
    DetectorWindow,
    MMODOptions,
    map_to_input,
    mmod_nms,
    output_to_input_maps,
    tensor_to_dets,
)
from faceport.detect.mmod_pyramid import tiled_pyramid_layout
from faceport.errors import FaceportError
from faceport.ir import Graph, Node, TensorSpec


def _chain(*layers: tuple[str, dict]) -> Graph:
    nodes, prev = [], "input"
    for i, (op, attrs) in enumerate(layers):
        name = f"{op}_{i}"
        nodes.append(Node(op, name, (prev,), (name,), attrs))
        prev = name
    return Graph("dlib", (TensorSpec("input", (1, 3, None, None)),), tuple(nodes), (prev,))


def _con(k: int, s: int, p: int) -> tuple[str, dict]:
    return "con", {"nr": k, "nc": k, "stride_y": s, "stride_x": s, "padding_y": p,
                   "padding_x": p}


def test_maps_follow_dlib_con_rule_from_the_output_down() -> None:
    # the face detector: 3x con5 stride 2 (pad 0), 3x con5 stride 1 (pad 2), con9 (pad 4)
    g = _chain(_con(5, 2, 0), ("relu", {}), _con(5, 2, 0), ("affine_con", {}), _con(5, 2, 0),
               _con(5, 1, 2), _con(5, 1, 2), _con(5, 1, 2), _con(9, 1, 4), ("loss_mmod", {}))
    maps = output_to_input_maps(g)
    assert maps[0].name == "con_8"  # the top layer is applied first
    x, y = map_to_input(maps, np.array([0.0, 10.0]), np.array([3.0, 0.0]))
    # stride-1 layers: p - pad + k/2 = p; each stride-2 con5: 2p + 2 -> 8p + 14
    np.testing.assert_array_equal(x, [14.0, 94.0])
    np.testing.assert_array_equal(y, [38.0, 14.0])


def test_unknown_op_has_no_coordinate_map() -> None:
    with pytest.raises(FaceportError, match="no output->input coordinate map"):
        output_to_input_maps(_chain(("reorg", {}),))


def test_nms_uses_bounding_box_union_and_percent_covered() -> None:
    a = [0, 0, 9, 9]  # area 100
    b = [5, 0, 14, 9]  # inner 50; true IoU 50/150 = 0.333, dlib's 50/(15*10) = 0.333
    c = [0, 5, 9, 14]
    d = [7, 7, 16, 16]  # inner 9; bbox 17*17 -> 0.031; true IoU 9/191
    boxes = np.array([a, b, c, d], dtype=float)
    assert list(mmod_nms(boxes, 0.3, 1.0)) == [0, 3]
    assert list(mmod_nms(boxes, 0.34, 1.0)) == [0, 1, 2, 3]
    # diagonal neighbours: true IoU 25/175=0.143 but dlib divides by the 15x15 bbox: 0.111
    diag = np.array([[0, 0, 9, 9], [5, 5, 14, 14]], dtype=float)
    assert list(mmod_nms(diag, 0.12, 1.0)) == [0, 1]
    assert list(mmod_nms(diag, 0.11, 1.0)) == [0]
    # a box inside another: covered 100% of the small one; only > thresh suppresses
    inner = np.array([[0, 0, 99, 99], [10, 10, 19, 19]], dtype=float)
    assert list(mmod_nms(inner, 0.5, 1.0)) == [0, 1]
    assert list(mmod_nms(inner, 0.5, 0.99)) == [0]


def test_tensor_to_dets_maps_windows_through_pyramid_levels() -> None:
    layout = tiled_pyramid_layout(100, 100, padding=10, outer_padding=11, down=6)
    g = _chain(_con(1, 1, 0), ("loss_mmod", {}))
    options = MMODOptions((DetectorWindow(20, 20),), 0.3, 1.0)
    out = np.full((1, layout.rows, layout.cols), -1.0, dtype=np.float32)
    l0, t0 = layout.rects[0][:2]
    l1, t1 = layout.rects[1][:2]
    out[0, t0 + 50, l0 + 40] = 2.0  # level 0: box centred at (40, 50) in the image
    out[0, t1 + 10, l1 + 10] = 1.0  # level 1: (10, 10) -> point_up: 10*1.2 + 0.3
    raw = tensor_to_dets(out, options, output_to_input_maps(g), layout)
    np.testing.assert_array_equal(raw.scores, [2.0, 1.0])
    np.testing.assert_array_equal(raw.boxes[0], [31, 41, 50, 60])  # 40 -+ 9.5, lround
    # corners (0.5, 0.5) and (19.5, 19.5) up one level: 0.9, 23.7 -> 1, 24
    np.testing.assert_array_equal(raw.boxes[1], [1, 1, 24, 24])
    none = tensor_to_dets(out, options, output_to_input_maps(g), layout, adjust_threshold=2.0)
    assert len(none.scores) == 0


def test_options_come_from_the_dat_loss_meta_or_fail_clearly() -> None:
    opts = MMODOptions.from_loss_meta({
        "detector_windows": [{"width": 80, "height": 80, "label": ""}],
        "overlaps_nms_iou_thresh": 0.338, "overlaps_nms_percent_covered_thresh": 1.0,
    })
    assert opts.windows == (DetectorWindow(80, 80, ""),) and opts.nms_iou_thresh == 0.338
    with pytest.raises(FaceportError, match="net_to_xml"):
        MMODOptions.from_loss_meta({"kind": "loss_mmod"})
