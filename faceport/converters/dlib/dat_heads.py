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
from faceport.modelinfo import Pyramid

#: dnn_mmod_*_ex use pyramid_down<6>; the factor is part of the C++ type, not of the file
PYRAMID_DOWN_DEFAULT = Pyramid.down


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


def dlib_input_grayscale_image_pyramid_dat(r: BinaryReader, version: str) -> Parsed:
    """input_grayscale_image_pyramid: pyramid_padding, pyramid_outer_padding (unsigned long);
    pixel -> v / 256, no mean subtraction."""
    attrs: dict[str, Any] = {
        "pyramid_padding": r.read_uint("pyramid_padding"),
        "pyramid_outer_padding": r.read_uint("pyramid_outer_padding"),
        "pyramid_down": PYRAMID_DOWN_DEFAULT,
        "pyramid_down_assumed": True,
    }
    return "input_grayscale_image_pyramid", attrs, {}


def dlib_input_rgb_image_pair_dat(r: BinaryReader, version: str) -> Parsed:
    """input_rgb_image_pair: the three averages (float); each pair becomes two samples."""
    return "input_rgb_image_pair", _rgb(r), {}


def dlib_input_matrix_dat(r: BinaryReader, version: str) -> Parsed:
    """input<matrix<T>>, input<array2d<T>>, input<std::array<matrix<T>, K>> (a K-channel
    image stack; K is a template parameter, not in the file): no fields; pixels copied as
    floats (unsigned char / 256 for the stack). net_to_xml writes all three as <input/>."""
    return "input", {}, {}


def dlib_input_tensor_dat(r: BinaryReader, version: str) -> Parsed:
    """input_tensor (dlib 20): no fields; the tensor is fed as is."""
    return "input_tensor", {}, {}


INPUTS: dict[str, LayerFn] = {
    "input_rgb_image": dlib_input_rgb_image_dat,
    "input_rgb_image_sized": dlib_input_rgb_image_sized_dat,
    "input_rgb_image_pyramid": dlib_input_rgb_image_pyramid_dat,
    "input_rgb_image_pyramid2": dlib_input_rgb_image_pyramid_dat,
    "input<matrix>": dlib_input_matrix_dat,
    "input<array2d>": dlib_input_matrix_dat,
    "input<array<matrix>>": dlib_input_matrix_dat,
    "input_grayscale_image_pyramid": dlib_input_grayscale_image_pyramid_dat,
    "input_rgb_image_pair": dlib_input_rgb_image_pair_dat,
    "input_tensor": dlib_input_tensor_dat,
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


def _count(r: BinaryReader, field: str, min_bytes: int) -> int:
    """A container size (unsigned long), checked against the bytes left before any loop."""
    start = r.pos
    count = r.read_uint(field)
    if count > r.left // min_bytes:
        raise r.error("container size exceeds the file", field=field, offset=start,
                      expected=f"<= {r.left // min_bytes}", found=count)
    return count


def _strings(r: BinaryReader, field: str) -> list[str]:
    return [r.read_string(f"{field}[{i}]") for i in range(_count(r, field, 1))]


def dlib_loss_multibinary_log_dat(r: BinaryReader, version: str) -> Parsed:
    """loss_multibinary_log_ (gamma 0) / loss_multibinary_log_2: gamma (double, focal loss)."""
    gamma = r.read_float("gamma") if version == "loss_multibinary_log_2" else 0.0
    return "loss_multibinary_log", {"gamma": gamma}, {}


def dlib_loss_multimulticlass_log_dat(r: BinaryReader, version: str) -> Parsed:
    """loss_multimulticlass_log_: std::map<string, vector<string>> classifier -> labels (the
    output channels are each classifier's labels in turn, classifiers in key order)."""
    labels = {}
    for i in range(_count(r, "labels", 2)):
        name = r.read_string(f"labels[{i}].key")
        labels[name] = _strings(r, f"labels[{name}]")
    return "loss_multimulticlass_log", {"labels": labels}, {}


def dlib_loss_yolo_dat(r: BinaryReader, version: str) -> Parsed:
    """loss_yolo_: tag count (size_t), yolo_options v1/v2: anchors (map tag id -> vector of
    {int version, width, height}), labels, iou_ignore_threshold, iou_anchor_threshold,
    classwise_nms, overlaps_nms (iou, percent covered), lambda_obj/box/cls, v2 gamma_obj/cls."""
    attrs: dict[str, Any] = {"tag_count": r.read_uint("tag_count")}
    start = r.pos
    opt_version = r.read_int("yolo_options.version", 4)
    if opt_version not in (1, 2):
        raise r.error("unknown yolo_options version", field="yolo_options", offset=start,
                      expected=[1, 2], found=opt_version)
    anchors: dict[int, list[dict[str, int]]] = {}
    for i in range(_count(r, "anchors", 3)):
        tag_id = r.read_int(f"anchors[{i}].tag_id", 4)
        boxes = []
        for j in range(_count(r, f"anchors[{tag_id}]", 6)):
            r.read_int(f"anchors[{tag_id}][{j}].version", 4)
            boxes.append({"width": r.read_uint(f"anchors[{tag_id}][{j}].width"),
                          "height": r.read_uint(f"anchors[{tag_id}][{j}].height")})
        anchors[tag_id] = boxes
    attrs["anchors"] = anchors
    attrs["labels"] = _strings(r, "labels")
    attrs["iou_ignore_threshold"] = r.read_float("iou_ignore_threshold")
    attrs["iou_anchor_threshold"] = r.read_float("iou_anchor_threshold")
    attrs["classwise_nms"] = r.read_bool("classwise_nms")
    attrs.update(_test_box_overlap(r, "overlaps_nms"))
    for name in ("lambda_obj", "lambda_box", "lambda_cls"):
        attrs[name] = r.read_float(name)
    for name in ("gamma_obj", "gamma_cls"):
        attrs[name] = r.read_float(name) if opt_version == 2 else 0.0
    return "loss_yolo", attrs, {}


def _double_loss(kind: str, attr: str) -> LayerFn:
    def parse(r: BinaryReader, version: str) -> Parsed:
        return kind, {attr: r.read_float(attr)}, {}

    parse.__name__ = f"dlib_{kind}_dat"
    parse.__doc__ = f"{kind}: {attr} (double)."
    return parse


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
    "loss_multibinary_log_": dlib_loss_multibinary_log_dat,
    "loss_multibinary_log_2": dlib_loss_multibinary_log_dat,
    "loss_multimulticlass_log_": dlib_loss_multimulticlass_log_dat,
    "loss_yolo_": dlib_loss_yolo_dat,
    # net_to_xml writes this one's tag with the trailing underscore
    "loss_epsilon_insensitive_": _double_loss("loss_epsilon_insensitive_", "epsilon"),
    "loss_barlow_twins_": _double_loss("loss_barlow_twins", "lambda"),
    **{
        f"{kind}_": _plain_loss(kind)
        for kind in (
            "loss_multiclass_log", "loss_binary_log", "loss_binary_hinge", "loss_mean_squared",
            "loss_mean_squared_multioutput", "loss_multiclass_log_per_pixel",
            "loss_mean_squared_per_pixel", "loss_ranking", "loss_dot",
            "loss_multiclass_log_weighted", "loss_multiclass_log_per_pixel_weighted",
            "loss_binary_log_per_pixel", "loss_mean_squared_per_channel_and_pixel",
        )
    },
}
