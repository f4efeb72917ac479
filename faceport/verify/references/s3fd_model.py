"""Independent S3FD reference: a plain nn.Module and the per-anchor detect loop.

Written from the S3FD paper (Zhang et al., ICCV 2017, sections 3.1-3.3) and SFD_pytorch's
published layer list, *not* generated from faceport's IR: if faceport's graph builder,
converters, anchors or decode drift, these disagree. Loaded with ``load_state_dict`` from
the same canonical state dict faceport reads.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class RefL2Norm(nn.Module):
    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ParseNet normalisation as released: eps after the square root
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return x / norm * self.weight.view(1, -1, 1, 1)


def _conv(cin: int, cout: int, k: int = 3, s: int = 1, p: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=p)


class RefS3FD(nn.Module):
    """VGG16 + fc6/fc7 as convs + conv6/conv7 extras, L2Norm on conv3_3/4_3/5_3, 6 levels."""

    def __init__(self) -> None:
        super().__init__()
        vgg = [(1, 2, 3, 64), (2, 2, 64, 128), (3, 3, 128, 256), (4, 3, 256, 512),
               (5, 3, 512, 512)]
        for block, n, cin, cout in vgg:
            for i in range(1, n + 1):
                setattr(self, f"conv{block}_{i}", _conv(cin if i == 1 else cout, cout))
        self.fc6 = _conv(512, 1024, 3, 1, 3)
        self.fc7 = _conv(1024, 1024, 1, 1, 0)
        self.conv6_1 = _conv(1024, 256, 1, 1, 0)
        self.conv6_2 = _conv(256, 512, 3, 2, 1)
        self.conv7_1 = _conv(512, 128, 1, 1, 0)
        self.conv7_2 = _conv(128, 256, 3, 2, 1)
        self.conv3_3_norm = RefL2Norm(256, 10.0)
        self.conv4_3_norm = RefL2Norm(512, 8.0)
        self.conv5_3_norm = RefL2Norm(512, 5.0)
        sources = [("conv3_3_norm", 256), ("conv4_3_norm", 512), ("conv5_3_norm", 512),
                   ("fc7", 1024), ("conv6_2", 512), ("conv7_2", 256)]
        for level, (name, ch) in enumerate(sources):
            setattr(self, f"{name}_mbox_conf", _conv(ch, 4 if level == 0 else 2))
            setattr(self, f"{name}_mbox_loc", _conv(ch, 4))
        self.sources = [name for name, _ in sources]

    def _stage(self, x: torch.Tensor, names: list[str]) -> torch.Tensor:
        for name in names:
            x = F.relu(getattr(self, name)(x))
        return x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self._stage(x, ["conv1_1", "conv1_2"])
        h = self._stage(F.max_pool2d(h, 2, 2), ["conv2_1", "conv2_2"])
        f3 = self._stage(F.max_pool2d(h, 2, 2), ["conv3_1", "conv3_2", "conv3_3"])
        f4 = self._stage(F.max_pool2d(f3, 2, 2), ["conv4_1", "conv4_2", "conv4_3"])
        f5 = self._stage(F.max_pool2d(f4, 2, 2), ["conv5_1", "conv5_2", "conv5_3"])
        f7 = self._stage(F.max_pool2d(f5, 2, 2), ["fc6", "fc7"])
        f6_2 = self._stage(f7, ["conv6_1", "conv6_2"])
        f7_2 = self._stage(f6_2, ["conv7_1", "conv7_2"])
        feats = [self.conv3_3_norm(f3), self.conv4_3_norm(f4), self.conv5_3_norm(f5), f7, f6_2,
                 f7_2]
        outs: list[torch.Tensor] = []
        for name, feat in zip(self.sources, feats):
            outs.append(getattr(self, f"{name}_mbox_conf")(feat))
            outs.append(getattr(self, f"{name}_mbox_loc")(feat))
        # max-out background label (paper 3.3): 3 background scores, keep their maximum
        c = outs[0]
        background = torch.max(torch.max(c[:, 0:1], c[:, 1:2]), c[:, 2:3])
        outs[0] = torch.cat([background, c[:, 3:4]], dim=1)
        return outs


def reference_model(state: dict[str, np.ndarray]) -> RefS3FD:
    model = RefS3FD()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return model.eval()


def reference_forward(model: RefS3FD, image_bgr_minus_mean: np.ndarray) -> list[np.ndarray]:
    """(1, 3, H, W) float32 -> the 12 head outputs as numpy."""
    with torch.no_grad():
        return [o.numpy() for o in model(torch.from_numpy(image_bgr_minus_mean))]


def preprocess(image_rgb: np.ndarray) -> np.ndarray:
    bgr = image_rgb[:, :, ::-1].astype(np.float64) - np.array([104.0, 117.0, 123.0])
    return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None], dtype=np.float32)


def _ref_nms(dets: np.ndarray, thresh: float) -> list[int]:
    """Classic greedy NMS with the +1 pixel area convention."""
    x1, y1, x2, y2, s = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = s.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def reference_detect(model: RefS3FD, image_rgb: np.ndarray) -> np.ndarray:
    """SFD_pytorch's pipeline on an RGB image; (N, 5) rows x1, y1, x2, y2, score."""
    return reference_postprocess(reference_forward(model, preprocess(image_rgb)))


def reference_postprocess(outputs: list[np.ndarray]) -> np.ndarray:
    """Softmax, per-anchor decode above 0.05, NMS 0.3, keep >= 0.5 (SFD_pytorch detect.py)."""
    outs = [torch.from_numpy(o) for o in outputs]
    rows = []
    for level in range(6):
        cls = F.softmax(outs[2 * level], dim=1)
        reg = outs[2 * level + 1]
        stride = 2 ** (level + 2)
        for _, hy, wx in zip(*np.where(cls[:, 1].numpy() > 0.05)):
            score = float(cls[0, 1, hy, wx])
            cx, cy, size = stride / 2 + wx * stride, stride / 2 + hy * stride, 4.0 * stride
            d = reg[0, :, hy, wx].double().numpy()
            bx, by = cx + d[0] * 0.1 * size, cy + d[1] * 0.1 * size
            bw, bh = size * np.exp(d[2] * 0.2), size * np.exp(d[3] * 0.2)
            rows.append([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2, score])
    if not rows:
        return np.zeros((0, 5))
    dets = np.array(rows, dtype=np.float64)
    dets = dets[_ref_nms(dets, 0.3)]
    return dets[dets[:, 4] >= 0.5]
