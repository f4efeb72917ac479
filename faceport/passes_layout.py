"""Speed passes that reshape dlib ``con`` layers for the CPU kernels (exact in real arithmetic).

Measured with onnxruntime 1.32 on 2 AVX2 cores, MMOD at 640x480 (``benchmarks/``):
onnxruntime's fast direct convolution (NCHWc) needs channel counts that are multiples of its
block (8 floats on AVX2). Others go through im2col and GEMM. MMOD's 45-filter layers miss
it, and its last layer (45 -> 1 filter, 9x9) becomes a GEMV over a 3645-row im2col matrix
(8.9 of the 67 ms forward). The two passes together take the forward from 67 to 56 ms.

* ``pad_dlib_channels``: a ``con`` whose filters feed only other ``con`` layers gets zero
  filters (weight and bias 0) up to a multiple of 8, and its consumers get matching zero
  input channels. The extra channels hold ``relu(0 + 0) = 0`` and are multiplied by zero
  weights, so every output is unchanged up to float summation order.
* ``depthwise_single_filter_con``: a single-filter ``con`` (``K x C x kh x kw`` with K = 1)
  over a multiple-of-8 channel count is marked ``faceport_depthwise_sum``. It is then lowered
  as a depthwise convolution (C groups) followed by a sum over channels plus the bias. That is
  the same sum ``sum_c sum_ij w[c,i,j] x[c,.+i,.+j]`` in a different order, and it runs on
  NCHWc depthwise kernels instead of a memory-bound GEMV.

Neither pass touches a graph output's channel count, so the outputs (and MMOD's maps) are
the same tensors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from faceport.ir import Graph, Node

CHANNEL_BLOCK = 8  # onnxruntime's NCHWc block on AVX2 (16 on AVX-512 divides by 8 too)
MIN_DEPTHWISE_TAPS = 9  # below a 3x3 window the GEMV is cheap enough


def used_params(nodes: Iterable[Node], params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``params`` restricted to the keys some node of ``nodes`` still references."""
    used = {key for node in nodes for key in node.params.values()}
    return {k: v for k, v in params.items() if k in used}


def _rounded(count: int) -> int:
    return -(-count // CHANNEL_BLOCK) * CHANNEL_BLOCK


def _dlib_cons(graph: Graph) -> dict[str, Node]:
    """``con`` nodes by their (single) output tensor."""
    return {n.outputs[0]: n for n in graph.nodes if n.op == "con" and len(n.outputs) == 1}


def pad_dlib_channels(graph: Graph) -> tuple[Graph, bool]:
    """Pad ``con`` filter counts to a multiple of 8 where only ``con`` layers read them."""
    if graph.framework != "dlib":
        return graph, False
    readers: defaultdict[str, list[Node]] = defaultdict(list)
    for node in graph.nodes:
        for name in node.inputs:
            readers[name].append(node)
    outputs = set(graph.outputs)
    padded: dict[str, int] = {}  # tensor -> padded channel count
    for tensor, node in _dlib_cons(graph).items():
        filters = int(node.attrs.get("num_filters", 0))
        users = readers.get(tensor, [])
        if filters % CHANNEL_BLOCK == 0 or tensor in outputs or not users:
            continue
        if all(u.op == "con" and u.inputs == (tensor,) for u in users):
            padded[tensor] = _rounded(filters)
    if not padded:
        return graph, False
    params = dict(graph.params)
    nodes = []
    for node in graph.nodes:
        grow_out = node.op == "con" and node.outputs[0] in padded
        grow_in = node.op == "con" and node.inputs[0] in padded
        if not (grow_out or grow_in):
            nodes.append(node)
            continue
        weight = np.asarray(params[node.params["weight"]], dtype=np.float32)
        k, c = weight.shape[:2]
        k2 = padded[node.outputs[0]] if grow_out else k
        c2 = padded[node.inputs[0]] if grow_in else c
        grown = np.zeros((k2, c2, *weight.shape[2:]), dtype=np.float32)
        grown[:k, :c] = weight
        new_params = {**node.params, "weight": f"{node.name}.padded.weight"}
        params[new_params["weight"]] = grown
        if grow_out and "bias" in node.params:
            bias = np.zeros(k2, dtype=np.float32)
            bias[:k] = np.asarray(params[node.params["bias"]], np.float32).reshape(-1)
            new_params["bias"] = f"{node.name}.padded.bias"
            params[new_params["bias"]] = bias
        nodes.append(replace(node, attrs={**node.attrs, "num_filters": k2}, params=new_params))
    return replace(graph, nodes=tuple(nodes), params=used_params(nodes, params)).validate(), True


def depthwise_single_filter_con(graph: Graph) -> tuple[Graph, bool]:
    """Mark single-filter ``con`` layers over multiple-of-8 channels ``faceport_depthwise_sum``."""
    if graph.framework != "dlib":
        return graph, False
    changed = False
    nodes = []
    for node in graph.nodes:
        weight = graph.params.get(node.params.get("weight", "")) if node.op == "con" else None
        if (
            weight is not None
            and weight.ndim == 4
            and weight.shape[0] == 1
            and weight.shape[1] % CHANNEL_BLOCK == 0
            and weight.shape[2] * weight.shape[3] >= MIN_DEPTHWISE_TAPS
            and not node.attrs.get("faceport_depthwise_sum")
        ):
            node = replace(node, attrs={**node.attrs, "faceport_depthwise_sum": True})
            changed = True
        nodes.append(node)
    if not changed:
        return graph, False
    return replace(graph, nodes=tuple(nodes)).validate(), True
