"""Build the IR graph of S3FD from the layer table and a canonical state dict.

Node names are SFD_pytorch's module names (``conv4_3``, ``conv3_3_norm_mbox_conf``); the
activations and pools that are functional calls there get Caffe-style names (``relu4_3``,
``pool3``). Each node's tensor output is named after the node. Graph outputs are the twelve
head tensors in SFD_pytorch's return order (cls1, reg1, ..., cls6, reg6), with the first
level's conf taken after the max-out background.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faceport.converters.s3fd.layout import (
    LEVELS,
    MAXOUT_BACKGROUND,
    NORMS,
    POOL_AFTER,
    TRUNK,
    ConvSpec,
    MappedStateDict,
    heads,
)
from faceport.ir import Graph, Node, Source, TensorSpec

FRAMEWORK = "s3fd"
INPUT = "data"
MAXOUT_NODE = "conv3_3_norm_mbox_conf_maxout"
#: SFD_pytorch: L2Norm adds eps after the square root
L2NORM_EPS = 1e-10
#: detect.py: BGR image minus this mean, no scaling


def head_outputs() -> list[str]:
    """The twelve output tensor names, conf/loc alternating, finest level first."""
    names = []
    for i, (prefix, _, _, _) in enumerate(LEVELS):
        names.append(MAXOUT_NODE if i == 0 else f"{prefix}_mbox_conf")
        names.append(f"{prefix}_mbox_loc")
    return names


def build_graph(
    mapped: MappedStateDict, *, file: str | None = None, meta: Mapping[str, Any] | None = None
) -> Graph:
    """The validated S3FD graph over ``mapped.params`` (canonical keys)."""
    nodes: list[Node] = []

    def src(key: str | None) -> Source:
        return Source(file=file, key=None if key is None else mapped.source_keys.get(key, key))

    def conv(spec: ConvSpec, tensor: str) -> str:
        nodes.append(Node(
            op="conv", name=spec.name, inputs=(tensor,), outputs=(spec.name,),
            attrs={"kernel": [spec.kernel, spec.kernel], "stride": [spec.stride, spec.stride],
                   "pad": [spec.pad, spec.pad], "dilation": [1, 1],
                   "in_channels": spec.cin, "out_channels": spec.cout},
            params={"weight": f"{spec.name}.weight", "bias": f"{spec.name}.bias"},
            source=src(f"{spec.name}.weight"),
        ))
        return spec.name

    tensor = INPUT
    pool = 0
    for spec in TRUNK:
        tensor = conv(spec, tensor)
        relu = "relu" + spec.name.removeprefix("conv").removeprefix("fc")
        nodes.append(Node(op="relu", name=relu, inputs=(tensor,), outputs=(relu,),
                          source=src(f"{spec.name}.weight")))
        tensor = relu
        if spec.name in POOL_AFTER:
            pool += 1
            name = f"pool{pool}"
            nodes.append(Node(op="maxpool", name=name, inputs=(tensor,), outputs=(name,),
                              attrs={"kernel": [2, 2], "stride": [2, 2], "pad": [0, 0],
                                     "ceil_mode": False}, source=src(None)))
            tensor = name
    for name, conv_name, channels, scale in NORMS:
        feature = "relu" + conv_name.removeprefix("conv")
        nodes.append(Node(op="l2norm", name=name, inputs=(feature,), outputs=(name,),
                          attrs={"eps": L2NORM_EPS, "channels": channels, "init_scale": scale},
                          params={"weight": f"{name}.weight"}, source=src(f"{name}.weight")))
    head_specs = heads()
    for i, (_, feature, _, _) in enumerate(LEVELS):
        conv(head_specs[2 * i], feature)
        conv(head_specs[2 * i + 1], feature)
    first_conf = head_specs[0].name
    nodes.append(Node(op="maxout_conf", name=MAXOUT_NODE, inputs=(first_conf,),
                      outputs=(MAXOUT_NODE,), attrs={"background": MAXOUT_BACKGROUND},
                      source=src(f"{first_conf}.weight")))
    info: dict[str, Any] = {
        "family": "s3fd",
        "layout": mapped.layout,
        # the heads' strides follow from the layers; how SFD_pytorch decodes them and
        # preprocesses images is the S3FD model kind's (faceport.kinds.s3fd)
        "detector": {"strides": [level[3] for level in LEVELS]},
    }
    info.update(meta or {})
    return Graph(
        framework=FRAMEWORK,
        inputs=(TensorSpec(INPUT, (None, 3, None, None)),),
        nodes=tuple(nodes),
        outputs=tuple(head_outputs()),
        params=dict(mapped.params),
        meta=info,
    ).validate()
