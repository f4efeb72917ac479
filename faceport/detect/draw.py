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
    w, h = canvas.size
    for found, colour in [*layers, (dets, color)]:
        assert found is not None
        for i, (box, score) in enumerate(zip(found.boxes, found.scores)):
            if not (np.all(np.isfinite(box)) and np.isfinite(score)):
                continue  # a broken model's output: nothing sensible to draw
            x1, x2 = sorted(float(np.clip(v, -1, w)) for v in (box[0], box[2]))
            y1, y2 = sorted(float(np.clip(v, -1, h)) for v in (box[1], box[3]))
            pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
            pen.text((max(0.0, x1) + 2, max(0.0, y1 - 12)), f"{score:.3f}", fill=colour)
            if found.landmarks is not None:
                for x, y in found.landmarks[i]:
                    if np.isfinite(x) and np.isfinite(y) and -1 <= x <= w and -1 <= y <= h:
                        pen.ellipse([x - width, y - width, x + width, y + width], fill=colour)
    return np.asarray(canvas)
