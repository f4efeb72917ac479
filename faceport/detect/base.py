"""The one detector contract: ``detector(image, options) -> Detections``.

Every detector (faceport's over a converted graph, and each source framework's own pipeline
used as a reference) takes a uint8 RGB image (H, W, 3) and one :class:`DetectOptions` record.
A field left ``None`` means the kind's default; a field a kind does not take is refused with a
:class:`~faceport.errors.FaceportError` naming the option, the detector and what it takes, so
no option is ignored silently. Detectors are context managers: ``close()`` (or leaving the
``with`` block) releases the networks and reference processes they hold.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from faceport.detect.types import Detections
from faceport.errors import FaceportError

#: contract fields (``extras`` are per kind)
FIELDS = ("score_threshold", "nms_iou", "upsample", "scales", "max_detections")


@dataclass(frozen=True)
class DetectOptions:
    """Options of one detection call (``None``: the detector's default).

    ``score_threshold``: keep detections scoring above it (dlib: ``adjust_threshold``,
    insightface: ``threshold``); ``nms_iou``: overlap at which NMS suppresses; ``upsample``:
    dlib's ``upsample_num_times``; ``scales``: image scales to run (RetinaFace); ``max_detections``:
    keep the best N; ``extras``: options of one kind only (S3FD ``candidate_threshold``,
    ``min_level``).
    """

    score_threshold: float | None = None
    nms_iou: float | None = None
    upsample: int | None = None
    scales: tuple[float, ...] | None = None
    max_detections: int | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def given(self) -> list[str]:
        """Names of the options set (contract fields, then extras)."""
        named = [f.name for f in fields(self)
                 if f.name != "extras" and getattr(self, f.name) is not None]  # fmt: skip
        return named + sorted(self.extras)

    def validate(self) -> DetectOptions:
        """Check the values themselves (ranges, types); returns ``self``."""
        if self.score_threshold is not None and not math.isfinite(self.score_threshold):
            raise FaceportError("score threshold must be a finite number",
                                field="score_threshold", found=self.score_threshold)  # fmt: skip
        if self.nms_iou is not None and not 0.0 <= self.nms_iou <= 1.0:
            raise FaceportError("NMS IoU must be in [0, 1]", field="nms_iou", found=self.nms_iou)
        if self.upsample is not None and (
            isinstance(self.upsample, bool) or not isinstance(self.upsample, int)
            or not 0 <= self.upsample <= 8
        ):
            raise FaceportError("upsample must be an integer in 0..8", field="upsample",
                                found=self.upsample)  # fmt: skip
        if self.scales is not None and (
            not self.scales or not all(math.isfinite(s) and 0 < s <= 16 for s in self.scales)
        ):
            raise FaceportError("scales must be numbers in (0, 16]", field="scales",
                                found=self.scales)  # fmt: skip
        if self.max_detections is not None and self.max_detections < 1:
            raise FaceportError("max detections must be >= 1", field="max_detections",
                                found=self.max_detections)  # fmt: skip
        return self


class Detector(abc.ABC):
    """Image in, :class:`Detections` out (see the module doc).

    Subclasses set :attr:`title`, :attr:`takes` (the contract fields they honour besides
    ``max_detections``, which every detector honours) and :attr:`extras` (their own options,
    name -> type), and implement :meth:`detect`.
    """

    title: ClassVar[str] = "detector"
    takes: ClassVar[frozenset[str]] = frozenset()
    extras: ClassVar[Mapping[str, type]] = {}

    def __call__(self, image: np.ndarray, options: DetectOptions | None = None) -> Detections:
        """``image``: uint8 (H, W, 3) in **RGB** order (the detector converts if needed)."""
        options = self.check(options or DetectOptions())
        found = self.detect(image, options)
        if options.max_detections is not None:
            found = found.top(options.max_detections)
        return found

    def check(self, options: DetectOptions) -> DetectOptions:
        """Refuse options this detector does not take, and bad values."""
        if not isinstance(options, DetectOptions):
            raise FaceportError("detector options must be a DetectOptions record",
                                found=type(options).__name__)  # fmt: skip
        allowed = set(self.takes) | {"max_detections"}
        for name in options.given():
            if name in options.extras:
                kind = self.extras.get(name)
                if kind is None:
                    raise FaceportError(f"the {self.title} does not take option {name!r}",
                                        field=name, expected=sorted(self.extras) or "no extras",
                                        found=options.extras[name])  # fmt: skip
                value = options.extras[name]
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise FaceportError(f"option {name!r} must be {kind.__name__}",
                                        field=name, found=value)  # fmt: skip
            elif name not in allowed:
                raise FaceportError(f"the {self.title} does not take option {name!r}",
                                    field=name, expected=sorted(allowed))  # fmt: skip
        return options.validate()

    @abc.abstractmethod
    def detect(self, image: np.ndarray, options: DetectOptions) -> Detections:
        """Run on a uint8 RGB image with checked options (``None`` fields: defaults)."""

    def why_unavailable(self) -> str | None:
        """``None`` when the detector can run here (a reference may need its framework)."""
        return None

    def use_network(self, network: Any) -> None:
        """Run ``network`` instead of the detector's own torch module: a callable that, like
        the lowered ``GraphModule``, takes the input tensor and returns the output tensor(s)
        (e.g. an onnxruntime session of an exported or quantised file behind an adapter)."""
        raise FaceportError(f"the {self.title} cannot run another network")

    def close(self) -> None:
        """Release what the detector holds (networks, reference processes)."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pick(value: Any, default: Any) -> Any:
    """``value`` unless it is ``None``."""
    return default if value is None else value
