"""The result every detector returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes in image pixels.

    ``boxes``: float64 (N, 4) as (x1, y1, x2, y2); ``scores``: float64 (N,);
    ``landmarks``: float64 (N, K, 2) as (x, y) or ``None``. Sorted by descending score.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def __str__(self) -> str:
        return self.describe()

    def describe(self, top: int | None = None) -> str:
        """The count, then one row per detection (the ``top`` best when given)."""
        rows = [f"{len(self)} detections"]
        shown = len(self) if top is None else min(top, len(self))
        for box, score in zip(self.boxes[:shown], self.scores[:shown]):
            x1, y1, x2, y2 = (float(v) for v in box)
            rows.append(f"  [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}] score {score:.4f}")
        if shown < len(self):
            rows.append(f"  ... and {len(self) - shown} more (--json writes them all)")
        return "\n".join(rows)

    def to_json(self) -> dict[str, list]:
        data: dict[str, list] = {
            "boxes": np.round(self.boxes, 4).tolist(),
            "scores": np.round(self.scores, 6).tolist(),
        }
        if self.landmarks is not None:
            data["landmarks"] = np.round(self.landmarks, 4).tolist()
        return data

    def top(self, count: int) -> Detections:
        """The ``count`` best detections (they are sorted by descending score)."""
        if count >= len(self):
            return self
        landmarks = None if self.landmarks is None else self.landmarks[:count]
        return Detections(self.boxes[:count], self.scores[:count], landmarks)

    @classmethod
    def empty(cls, landmarks: int = 0) -> Detections:
        lm = np.zeros((0, landmarks, 2)) if landmarks else None
        return cls(np.zeros((0, 4)), np.zeros((0,)), lm)
