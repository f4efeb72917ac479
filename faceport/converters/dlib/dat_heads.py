"""Deserializers for the two ends of a dlib network in the binary format: input layers
(``dlib/dnn/input.h``) and loss layers (``dlib/dnn/loss.h``), keyed by version string.

Same contract as :mod:`~faceport.converters.dlib.dat_layers`: each returns
``(kind, attrs, {})`` with ``net_to_xml``'s tag and attribute names. ``loss_mmod``'s
``to_xml`` writes no attributes, so its options use the ``mmod_options`` member names.
"""

from __future__ import annotations

from typing import Any

from faceport.converters.dlib.binary import BinaryReader
from faceport.converters.dlib.dat_layers import LayerFn, Parsed

PYRAMID_DOWN_DEFAULT = 6  # dnn_mmod_*_ex use pyramid_down<6>; the factor is not in the file


def _rgb(r: BinaryReader) -> dict[str, Any]:
    return {c: r.read_float(f"avg_{c}", single=True) for c in ("r", "g", "b")}


def dlib_input_rgb_image_dat(r: BinaryReader, version: str) -> Parsed:
    """input_rgb_image: avg_red, avg_green, avg_blue (float); pixel -> (v - avg) / 256."""
    return "input_rgb_image", _rgb(r), {}


def dlib_input_rgb_image_sized_dat(r: BinaryReader, version: str) -> Parsed:
    """input_rgb_image_sized: the three averages then NR, NC (size_t)."""
    attrs = _rgb(r)
    attrs["nr"], attrs["nc"] = r.read_uint("nr"), r.read_uint("nc")
    return "input_rgb_image_sized", attrs, {}


def dlib_input_rgb_image_pyramid_dat(r: BinaryReader, version: str) -> Parsed:
    """input_rgb_image_pyramid[2]: averages, then (version 2) pyramid_padding and
    pyramid_outer_padding (unsigned long); version 1 files imply dlib's defaults 10, 11."""
    attrs = _rgb(r)
    if version.endswith("2"):
        attrs["pyramid_padding"] = r.read_uint("pyramid_padding")
        attrs["pyramid_outer_padding"] = r.read_uint("pyramid_outer_padding")
    else:
        attrs["pyramid_padding"], attrs["pyramid_outer_padding"] = 10, 11
    attrs["pyramid_down"] = PYRAMID_DOWN_DEFAULT
    attrs["pyramid_down_assumed"] = True
    return "input_rgb_image_pyramid", attrs, {}


def dlib_input_matrix_dat(r: BinaryReader, version: str) -> Parsed:
    """input<matrix<T>> / input<array2d<T>>: no fields (pixels copied as floats)."""
    return "input", {}, {}


INPUTS: dict[str, LayerFn] = {
    "input_rgb_image": dlib_input_rgb_image_dat,
    "input_rgb_image_sized": dlib_input_rgb_image_sized_dat,
    "input_rgb_image_pyramid": dlib_input_rgb_image_pyramid_dat,
    "input_rgb_image_pyramid2": dlib_input_rgb_image_pyramid_dat,
    "input<matrix>": dlib_input_matrix_dat,
    "input<array2d>": dlib_input_matrix_dat,
}


def _test_box_overlap(r: BinaryReader, name: str) -> dict[str, float]:
    return {
        f"{name}_iou_thresh": r.read_float(f"{name}.iou_thresh"),
        f"{name}_percent_covered_thresh": r.read_float(f"{name}.percent_covered_thresh"),
    }


def _detector_windows(r: BinaryReader, options_version: int) -> list[dict[str, Any]]:
    if options_version == 1:
        return [{"width": r.read_uint("detector_width"), "height": r.read_uint("detector_height"),
                 "label": ""}]
    start = r.pos
    count = r.read_uint("detector_windows.size")
    if count > r.left // 5:  # each window: version, width, height, label >= 5 bytes
        raise r.error("detector window count exceeds the file", field="detector_windows",
                      offset=start, expected=f"<= {r.left // 5}", found=count)
    windows = []
    for i in range(count):
        at = r.pos
        version = r.read_int(f"detector_windows[{i}].version", 4)
        if version not in (1, 2):
            raise r.error("unknown detector_window_details version", offset=at,
                          field=f"detector_windows[{i}]", expected=[1, 2], found=version)
        width = r.read_uint(f"detector_windows[{i}].width")
        height = r.read_uint(f"detector_windows[{i}].height")
        label = r.read_string(f"detector_windows[{i}].label") if version == 2 else ""
        windows.append({"width": width, "height": height, "label": label})
    return windows


def dlib_loss_mmod_dat(r: BinaryReader, version: str) -> Parsed:
    """loss_mmod_: mmod_options v1..4: detector windows (v1: one width/height), loss per
    false alarm / missed target, truth-match IoU, overlaps_nms and overlaps_ignore
    (test_box_overlap: iou_thresh, percent_covered_thresh), v3+ assume_image_pyramid
    (uint8), v4+ use_bounding_box_regression and bbr_lambda (defaults False, 100)."""
    start = r.pos
    opt_version = r.read_int("mmod_options.version", 4)
    if not 1 <= opt_version <= 4:
        raise r.error("unknown mmod_options version", field="mmod_options", offset=start,
                      expected=[1, 2, 3, 4], found=opt_version)
    attrs: dict[str, Any] = {"options_version": opt_version}
    attrs["detector_windows"] = _detector_windows(r, opt_version)
    for name in ("loss_per_false_alarm", "loss_per_missed_target", "truth_match_iou_threshold"):
        attrs[name] = r.read_float(name)
    attrs.update(_test_box_overlap(r, "overlaps_nms"))
    attrs.update(_test_box_overlap(r, "overlaps_ignore"))
    attrs["assume_image_pyramid"] = True
    if opt_version >= 3:
        attrs["assume_image_pyramid"] = bool(r.read_uint("assume_image_pyramid", 1))
    attrs["use_bounding_box_regression"], attrs["bbr_lambda"] = False, 100.0
    if opt_version >= 4:
        attrs["use_bounding_box_regression"] = r.read_bool("use_bounding_box_regression")
        attrs["bbr_lambda"] = r.read_float("bbr_lambda")
    return "loss_mmod", attrs, {}


def dlib_loss_metric_dat(r: BinaryReader, version: str) -> Parsed:
    """loss_metric_ (defaults margin 0.04, threshold 0.6) / loss_metric_2 (both stored,
    float): pairs closer than distance_threshold are the same identity."""
    if version == "loss_metric_2":
        margin = r.read_float("margin", single=True)
        thresh = r.read_float("distance_threshold", single=True)
    else:
        margin, thresh = 0.04, 0.6
    return "loss_metric", {"margin": margin, "distance_threshold": thresh}, {}


def _plain_loss(kind: str) -> LayerFn:
    def parse(r: BinaryReader, version: str) -> Parsed:
        return kind, {}, {}

    parse.__name__ = f"dlib_{kind}_dat"
    parse.__doc__ = f"{kind}: no fields after the version string."
    return parse


LOSSES: dict[str, LayerFn] = {
    "loss_mmod_": dlib_loss_mmod_dat,
    "loss_metric_": dlib_loss_metric_dat,
    "loss_metric_2": dlib_loss_metric_dat,
    **{
        f"{kind}_": _plain_loss(kind)
        for kind in (
            "loss_multiclass_log", "loss_binary_log", "loss_binary_hinge", "loss_mean_squared",
            "loss_mean_squared_multioutput", "loss_multiclass_log_per_pixel",
            "loss_mean_squared_per_pixel", "loss_ranking", "loss_dot",
        )
    },
}
