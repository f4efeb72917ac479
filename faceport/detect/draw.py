"""Draw detections (boxes, scores, landmarks) on an RGB image with Pillow."""

from __future__ import annotations

import numpy as np

from faceport.detect.types import Detections


def draw_detections(
    image: np.ndarray,
    dets: Detections,
    *,
    color: tuple[int, int, int] = (0, 255, 0),
    reference: Detections | None = None,
    reference_color: tuple[int, int, int] = (255, 0, 255),
) -> np.ndarray:
    """A copy of ``image`` (uint8 RGB) with ``dets`` drawn (and ``reference`` in another
    colour, for parity pictures)."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8).copy())
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(max(canvas.size) / 400))
    layers = [(reference, reference_color)] if reference is not None else []
    for found, colour in [*layers, (dets, color)]:
        assert found is not None
        for i, (box, score) in enumerate(zip(found.boxes, found.scores)):
            x1, y1, x2, y2 = (float(v) for v in box)
            pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
            pen.text((x1 + 2, max(0.0, y1 - 12)), f"{score:.3f}", fill=colour)
            if found.landmarks is not None:
                for x, y in found.landmarks[i]:
                    pen.ellipse([x - width, y - width, x + width, y + width], fill=colour)
    return np.asarray(canvas)
