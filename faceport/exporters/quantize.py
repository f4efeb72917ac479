"""INT8: onnxruntime static quantisation of an exported network, calibrated on real images.

:func:`quantize_network` exports the graph's plain network (fp32 ONNX, dynamic sizes unless a
size is given), feeds it the calibration images through the model kind's own preprocessing
(:func:`faceport.kinds.feed`: the dlib pyramid canvas, RetinaFace's normalisation, S3FD's
mean subtraction) and writes the result of ``onnxruntime.quantization.quantize_static``:

* QDQ format (``QuantizeLinear``/``DequantizeLinear`` pairs around every quantised op: the
  form ORT's CPU EP and mobile EPs fuse into integer kernels);
* weights int8 per output channel (symmetric), activations uint8 (asymmetric): the U8S8
  combination ORT's x86 kernels run fastest;
* MinMax calibration over every calibration image (ranges aggregated over the images, which
  may differ in size: the graph stays dynamic).

The result is checked, carries the fp32 export's metadata plus ``faceport.quantization``
(scheme and the calibration image count), and is written atomically. Whether it is good enough
is a separate decision: :mod:`faceport.verify.quantize_gate` compares it with fp32 on images
not used for calibration.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceport.errors import ExportError
from faceport.ir import Graph

SCHEME = "onnxruntime static QDQ, weights int8 per-channel symmetric, activations uint8 MinMax"


@dataclass(frozen=True)
class QuantizedModel:
    """The int8 file (not yet at its destination), its fp32 source and what calibrated it."""

    int8: Path
    fp32: Path
    calibration_images: int
    metadata: dict[str, str]


class _Feeds:
    """``onnxruntime.quantization.CalibrationDataReader`` over precomputed feeds."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def quantize_network(
    graph: Graph,
    images: Sequence[np.ndarray],
    workdir: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    per_channel: bool = True,
) -> QuantizedModel:
    """Export ``graph`` to fp32 ONNX in ``workdir`` and quantise it with ``images`` (uint8
    RGB) as calibration data; returns the two files (int8 still in ``workdir``). ``size``
    (H, W of the *image*) fixes the network input to the feed of an image of that size."""
    import onnx

    from faceport.exporters.onnx import export_onnx
    from faceport.imageio import resize_rgb
    from faceport.kinds import feed

    if not images:
        raise ExportError("no calibration images", field="calibrate", expected=">= 1 image")
    work = Path(workdir)
    net_size = None  # ``size`` is the image's; the network input is the kind's feed of it
    if size is not None:  # (the dlib pyramid canvas is larger than the image)
        probe = feed(graph, np.zeros((*size, 3), np.uint8))[graph.inputs[0].name]
        net_size = (int(probe.shape[2]), int(probe.shape[3]))
    fp32 = export_onnx(graph, work / "fp32.onnx", size=net_size, simplify=True).path
    feeds = []
    for image in images:
        fed = feed(graph, image if size is None else resize_rgb(image, size))
        feeds.append({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in fed.items()})
    int8 = work / "int8.onnx"
    _quantize(fp32, int8, feeds, per_channel=per_channel)
    model = onnx.load(str(int8))
    source = onnx.load(str(fp32), load_external_data=False)
    metadata = {p.key: p.value for p in source.metadata_props}
    metadata["faceport.quantization"] = json.dumps(
        {"scheme": SCHEME if per_channel else SCHEME.replace("per-channel", "per-tensor"),
         "calibration_images": len(images)}, sort_keys=True,
    )  # fmt: skip
    from faceport.exporters.onnx_finish import check, set_metadata

    set_metadata(model, metadata)
    check(model, int8, "after quantisation")
    onnx.save(model, str(int8))
    return QuantizedModel(int8, fp32, len(images), metadata)


def _quantize(
    fp32: Path, int8: Path, feeds: list[dict[str, np.ndarray]], *, per_channel: bool
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    advice = _DropAdvice()
    logging.getLogger().addFilter(advice)  # the tool logs "consider pre-processing" on root
    try:
        quantize_static(
            str(fp32), str(int8), _Feeds(feeds), quant_format=QuantFormat.QDQ,
            per_channel=per_channel, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )  # fmt: skip
    except Exception as exc:  # onnxruntime's tools raise many types
        raise ExportError(f"onnxruntime static quantisation failed: {exc}",
                          file=str(fp32)) from exc  # fmt: skip
    finally:
        logging.getLogger().removeFilter(advice)


class _DropAdvice(logging.Filter):
    """Drops onnxruntime's generic advice to run its pre-processing (faceport's export is
    already simplified and shape-inferred by onnxsim)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()
