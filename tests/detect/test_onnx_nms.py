"""The exportable NMS: eager result equals faceport.detect.nms, and onnxruntime agrees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceport.detect.nms import nms
from faceport.detect.onnx_nms import nms_indices


class _Wrap(torch.nn.Module):
    def forward(self, boxes, scores, iou, score):  # type: ignore[no-untyped-def]
        return nms_indices(boxes, scores, iou, score, pixel_offset=1.0)


def _boxes(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(4, 60, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.random(n).astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_eager_matches_numpy_nms(seed: int) -> None:
    boxes, scores = _boxes(seed)
    keep = _Wrap()(torch.from_numpy(boxes), torch.from_numpy(scores),
                   torch.tensor(0.3), torch.tensor(0.2))
    mask = scores > 0.2
    ref = np.flatnonzero(mask)[nms(boxes[mask], scores[mask], 0.3, pixel_offset=1.0)]
    assert keep.tolist() == ref.tolist()


def test_exported_nms_runs_in_onnxruntime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    boxes, scores = _boxes(7)
    args = (torch.from_numpy(boxes), torch.from_numpy(scores), torch.tensor(0.3), torch.tensor(0.2))
    path = tmp_path / "nms.onnx"
    torch.onnx.export(
        _Wrap(), args, str(path), dynamo=False, opset_version=17,
        input_names=["boxes", "scores", "iou", "score"], output_names=["keep"],
        dynamic_axes={"boxes": {0: "n"}, "scores": {0: "n"}, "keep": {0: "k"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed in (7, 8):
        b, s = _boxes(seed, 50 + seed)
        (keep,) = session.run(None, {"boxes": b, "scores": s, "iou": np.array(0.3, np.float32),
                                     "score": np.array(0.2, np.float32)})
        mask = s > 0.2
        ref = np.flatnonzero(mask)[nms(b[mask], s[mask], 0.3, pixel_offset=1.0)]
        assert keep.tolist() == ref.tolist()
