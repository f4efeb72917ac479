"""Argument groups and helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from faceport.ir import Graph


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        type=Path,
        help="a source model (dlib .dat/.xml, MXNet -symbol.json or prefix, S3FD .pth) "
        "or a converted .safetensors",
    )
    group = parser.add_argument_group("reading options")
    group.add_argument("--epoch", type=int, help="MXNet: which -NNNN.params (default: newest)")
    group.add_argument("--params", type=Path, help="MXNet: the weights file for this symbol")
    group.add_argument(
        "--pyramid-down",
        type=int,
        help="dlib: the input pyramid's pyramid_down<N> factor (not stored in files; default 6)",
    )
    group.add_argument("--key-map", type=Path, help="S3FD: JSON file mapping checkpoint keys")
    group.add_argument("--allow-nonfinite", action="store_true",
                       help="convert even when weights are NaN, infinite or beyond 1e30")


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """The family-specific reading options the user set (only those)."""
    options: dict[str, Any] = {}
    if getattr(args, "epoch", None) is not None:
        options["epoch"] = args.epoch
    if getattr(args, "params", None) is not None:
        options["params"] = args.params
    if getattr(args, "pyramid_down", None) is not None:
        options["pyramid_down"] = args.pyramid_down
    if getattr(args, "key_map", None) is not None:
        options["key_map"] = read_key_map(args.key_map)
    if getattr(args, "allow_nonfinite", False):
        options["allow_nonfinite"] = True
    return options


def read_key_map(path: Path) -> dict[str, str]:
    """A JSON object ``{"checkpoint key or prefix": "faceport key or prefix"}``."""
    import json

    from faceport.errors import FormatError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"cannot read key map: {exc}", file=str(path)) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise FormatError(
            "key map must be a JSON object of strings", file=str(path), found=type(data).__name__
        )
    return data


def load_model(args: argparse.Namespace) -> Graph:
    """The model argument as a graph: converted file loaded, source model converted."""
    from faceport.converters import load_any

    return load_any(args.model, **reader_options(args))


def add_detect_options(parser: argparse.ArgumentParser) -> None:
    """The detector contract's options (:class:`faceport.detect.base.DetectOptions`)."""
    group = parser.add_argument_group("detection options (default: the model kind's own)")
    group.add_argument("--threshold", type=float, help="score threshold (dlib: adjust_threshold)")
    group.add_argument("--nms", type=float, help="NMS IoU threshold")
    group.add_argument("--upsample", type=int, help="dlib: upsample_num_times")
    group.add_argument("--scales", help="comma list of image scales (RetinaFace), e.g. 0.5,1")
    group.add_argument("--max-detections", type=int, help="keep at most this many detections")


def detect_options(args: argparse.Namespace) -> Any:
    """The :class:`DetectOptions` record of the options the user set (only those)."""
    from faceport.detect.base import DetectOptions
    from faceport.errors import FaceportError

    scales = None
    if getattr(args, "scales", None):
        try:
            scales = tuple(float(s) for s in args.scales.split(",") if s.strip())
        except ValueError:
            raise FaceportError("--scales must be a comma list of numbers",
                                found=args.scales) from None  # fmt: skip
    return DetectOptions(
        score_threshold=getattr(args, "threshold", None),
        nms_iou=getattr(args, "nms", None),
        upsample=getattr(args, "upsample", None),
        scales=scales,
        max_detections=getattr(args, "max_detections", None),
    ).validate()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def output_file(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """``path`` when it can be written as ``what``: not an existing directory, and ending in
    one of ``suffixes`` (nothing is renamed or written beside it silently)."""
    from faceport.errors import FaceportError

    if path.is_dir():
        raise FaceportError(f"the {what} is an existing directory: give a file name",
                            file=str(path))  # fmt: skip
    if suffixes and path.suffix.lower() not in suffixes:
        raise FaceportError(f"the {what} must end in {' or '.join(suffixes)}", file=str(path),
                            expected=list(suffixes), found=path.suffix or "no extension")
    return path


def output_folder(path: Path, what: str) -> Path:
    """``path`` when it is a folder or does not exist yet."""
    from faceport.errors import FaceportError

    if path.exists() and not path.is_dir():
        raise FaceportError(f"the {what} is an existing file: give a folder", file=str(path))
    return path


def torch_device(name: str) -> str:
    """``name`` when torch can run on it here (``cpu``, ``cuda``, ``cuda:N``)."""
    import torch

    from faceport.errors import FaceportError

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise FaceportError(f"unknown device {name!r}: {exc}", field="--device") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise FaceportError("no CUDA device here (this torch has no CUDA, or no GPU is "
                                "visible)", field="--device", found=name)  # fmt: skip
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise FaceportError("no such CUDA device", field="--device", found=name,
                                expected=f"cuda:0..{torch.cuda.device_count() - 1}")  # fmt: skip
    elif device.type != "cpu":
        raise FaceportError("faceport runs detectors on cpu or cuda", field="--device",
                            found=name)  # fmt: skip
    return name
