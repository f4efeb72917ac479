"""Load a pretrained S3FD's matching layers into a user's (modified) ``nn.Module``.

Typical use: keep the VGG trunk and some heads, replace others (say a classifier on
``conv7_2``), then::

    report = load_pretrained(model, "s3fd.pth", freeze_backbone=True)
    print(report)          # matched / missing / unexpected / shape-mismatched, by name

Keys are compared by name after an optional ``key_map`` (pretrained canonical name or
module prefix -> the model's name). Only matched keys are copied; nothing else in the
model changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.converters.s3fd.layout import BACKBONE

if TYPE_CHECKING:
    from torch import nn

    from faceport.ir import Graph


@dataclass(frozen=True)
class FinetuneReport:
    """What :func:`load_pretrained` did, key by key (model key names)."""

    matched: tuple[str, ...]
    missing: tuple[str, ...]  # in the model, not provided by the pretrained weights
    unexpected: tuple[str, ...]  # pretrained keys the model has no place for
    shape_mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = field(default=())
    frozen: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.matched)

    def __str__(self) -> str:
        lines = [
            f"S3FD fine-tune load: {len(self.matched)} matched, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatched)} shape-mismatched, "
            f"{len(self.frozen)} frozen"
        ]
        for title, keys in (("missing (kept as initialised)", self.missing),
                            ("unexpected (pretrained, unused)", self.unexpected)):
            if keys:
                lines.append(f"  {title}: {', '.join(keys)}")
        for key, model_shape, pretrained_shape in self.shape_mismatched:
            lines.append(f"  shape mismatch {key}: model {list(model_shape)} "
                         f"vs pretrained {list(pretrained_shape)}")
        return "\n".join(lines)


def pretrained_params(
    source: str | os.PathLike[str] | Graph | Mapping[str, Any],
    *,
    source_key_map: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Canonical S3FD key -> float32 array from a ``.pth`` path, a converted graph or a dict."""
    from faceport.ir import Graph

    if isinstance(source, Graph):
        return dict(source.params)
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}
    from faceport.converters.s3fd.layout import map_state_dict
    from faceport.converters.s3fd.pth_reader import read_checkpoint

    checkpoint = read_checkpoint(source)
    return map_state_dict(checkpoint.obj, file=str(source), key_map=source_key_map).params


def load_pretrained(
    model: nn.Module,
    source: str | os.PathLike[str] | Graph | Mapping[str, Any],
    *,
    key_map: Mapping[str, str] | None = None,
    freeze_backbone: bool = False,
    source_key_map: Mapping[str, str] | None = None,
) -> FinetuneReport:
    """Copy every pretrained tensor whose (mapped) name and shape match into ``model``.

    ``freeze_backbone`` sets ``requires_grad=False`` on the matched parameters of the VGG
    trunk and extra layers (conv1_1 ... conv7_2, fc6, fc7); heads and L2Norm scales stay
    trainable. ``source_key_map`` is the checkpoint-reading key map (see
    :func:`faceport.converters.s3fd.layout.map_state_dict`).
    """
    import torch

    pretrained = pretrained_params(source, source_key_map=source_key_map)
    target = model.state_dict()
    renamed = {_rename(k, key_map or {}): (k, v) for k, v in pretrained.items()}
    matched, unexpected, mismatched = [], [], []
    for key, (_, value) in renamed.items():
        if key not in target:
            unexpected.append(key)
        elif tuple(target[key].shape) != tuple(value.shape):
            mismatched.append((key, tuple(target[key].shape), tuple(value.shape)))
        else:
            matched.append(key)
    missing = [k for k in target if k not in renamed]
    with torch.no_grad():
        for key in matched:
            tensor = torch.from_numpy(np.array(renamed[key][1], copy=True))
            target[key].copy_(tensor.to(target[key].dtype))
    frozen = []
    if freeze_backbone:
        params = dict(model.named_parameters())
        for key in matched:
            source_key = renamed[key][0]
            if source_key.rsplit(".", 1)[0] in BACKBONE and key in params:
                params[key].requires_grad_(False)
                frozen.append(key)
    return FinetuneReport(tuple(matched), tuple(missing), tuple(unexpected), tuple(mismatched),
                          tuple(frozen))


def _rename(key: str, key_map: Mapping[str, str]) -> str:
    if key in key_map:
        return key_map[key]
    module, _, leaf = key.rpartition(".")
    return f"{key_map[module]}.{leaf}" if module in key_map else key
