"""dlib loss layers as identity heads.

A converted network ends at the raw tensor the loss layer's ``to_label`` reads; decoding
(argmax, thresholds, detection windows) is post-processing that lives in ``faceport.detect``
or the family code. Each entry says what ``to_label`` does with that tensor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from faceport.converters.dlib.ops._common import input_count
from faceport.registry import register

if TYPE_CHECKING:
    from faceport.ir import Node
    from faceport.registry import LowerContext

LOSS_TO_LABEL: dict[str, str] = {
    "loss_mmod": "per detector window one score channel; positions scoring above "
    "adjust_threshold map back through the input layer to boxes, then NMS",
    "loss_metric": "the (N, dims) vector itself is the embedding",
    "loss_multiclass_log": "argmax over k of the (N, k, 1, 1) scores",
    "loss_multiclass_log_weighted": "argmax over k of the (N, k, 1, 1) scores",
    "loss_multiclass_log_per_pixel": "argmax over k at every (r, c)",
    "loss_multiclass_log_per_pixel_weighted": "argmax over k at every (r, c)",
    "loss_multimulticlass_log": "argmax within each classifier's block of channels",
    "loss_binary_log": "the raw score; label is score > 0",
    "loss_binary_log_per_pixel": "the raw score at every (r, c); label is score > 0",
    "loss_binary_hinge": "the raw score; label is score > 0",
    "loss_multibinary_log": "one raw score per output; each label is score > 0",
    "loss_mean_squared": "the raw scalar prediction",
    "loss_mean_squared_multioutput": "the raw (N, k) prediction vector",
    "loss_mean_squared_per_pixel": "the raw prediction at every (r, c)",
    "loss_mean_squared_per_channel_and_pixel": "the raw (N, k, nr, nc) prediction",
    "loss_epsilon_insensitive": "the raw scalar prediction",
    "loss_epsilon_insensitive_": "the raw scalar prediction (net_to_xml's spelling)",
    "loss_ranking": "the raw relevance score",
    "loss_dot": "the raw vector (scored by a dot product with the label)",
    "loss_yolo": "per anchor and cell: sigmoid of x, y, objectness and classes, exp of w, h "
    "times the anchor; boxes above adjust_threshold, then NMS",
    "loss_barlow_twins": "the raw embedding",
}


class DlibLossHead(nn.Module):
    """Identity: returns the network output the loss layer would decode."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return self.kind


def dlib_loss(node: Node, ctx: LowerContext) -> nn.Module:
    """loss_*: identity head returning the raw network output; what dlib's to_label does with
    it is listed in LOSS_TO_LABEL (argmax, score > 0, detection decoding...)."""
    input_count(node, 1)
    return DlibLossHead(node.op)


register("dlib", *LOSS_TO_LABEL)(dlib_loss)
