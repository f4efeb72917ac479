"""Graph passes: uniform ``run(graph) -> (graph, changed)`` units that rewrite the IR.

The passes here trade bit-exactness with the source framework for speed, so they are never
applied by the converters; the detectors and exporters opt in (``optimize``). Each folds a
per-channel affine map that directly follows a convolution into the convolution's weights:

* ``fold_dlib_norm``: dlib ``con`` -> ``bn_con`` (inference form, running statistics) or
  ``affine_con``. dlib's own loader turns ``bn_con`` into ``affine_con`` with
  ``gamma' = gamma / sqrt(var + eps)``, ``beta' = beta - gamma' * mean``; folding that map
  into the filter gives ``w' = w * gamma'[k]``, ``b' = (b - mean[k]) * gamma'[k] + beta[k]``.
* ``fuse_dlib_relu``: a biased ``con`` followed by ``relu`` becomes one ``con`` with
  ``use_relu`` (dlib 20 fuses exactly this in ``con_``).
* ``fold_mxnet_batchnorm``: MXNet ``Convolution`` -> ``BatchNorm`` (axis 1; ``fix_gamma``,
  default true, means gamma = 1; eps default 1e-3), same algebra.

``faceport.passes_layout`` adds two layout passes for dlib (channel padding, depthwise
single-filter convolutions) that run after the folds.

A fold applies only when the convolution's output feeds nothing but the normalisation and is
not a graph output. The rewritten convolution keeps its name and source; its outputs become
the normalisation's, so downstream wiring (and MMOD's coordinate maps) is unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from faceport.errors import InternalError
from faceport.ir import Graph, Node
from faceport.passes_layout import depthwise_single_filter_con, pad_dlib_channels, used_params

log = logging.getLogger(__name__)

PassFn = Callable[[Graph], tuple[Graph, bool]]
DLIB_BATCH_NORM_EPS = 1e-4
MXNET_BATCH_NORM_EPS = 1e-3


def _consumers(graph: Graph) -> Counter[str]:
    counts: Counter[str] = Counter()
    for node in graph.nodes:
        counts.update(node.inputs)
    counts.update(graph.outputs)
    return counts


def _single_consumer_pairs(
    graph: Graph, first_ops: set[str], second_ops: set[str]
) -> Iterator[tuple[int, int]]:
    """Yield (i, j) for nodes[i] in first_ops whose only consumer is nodes[j] in second_ops."""
    uses = _consumers(graph)
    by_input: dict[str, int] = {}
    for j, node in enumerate(graph.nodes):
        if node.inputs:
            by_input.setdefault(node.inputs[0], j)
    for i, node in enumerate(graph.nodes):
        if node.op not in first_ops or len(node.outputs) != 1:
            continue
        tensor = node.outputs[0]
        found = by_input.get(tensor)
        if found is None or uses[tensor] != 1 or graph.nodes[found].op not in second_ops:
            continue
        if len(graph.nodes[found].inputs) != 1:
            continue
        yield i, found


def _rebuild(
    graph: Graph, merged: Mapping[int, tuple[int, Node]], new_params: dict[str, np.ndarray]
) -> Graph:
    """Replace node i by the merged node and drop node j for every (i -> (j, node))."""
    dropped = {j for j, _ in merged.values()}
    nodes = [
        merged[i][1] if i in merged else n
        for i, n in enumerate(graph.nodes)
        if i not in dropped
    ]
    params = used_params(nodes, {**graph.params, **new_params})
    result = Graph(graph.framework, graph.inputs, tuple(nodes), graph.outputs, params, graph.meta)
    try:
        return result.validate()
    except Exception as exc:
        raise InternalError(f"graph pass produced an invalid graph: {exc}") from exc


def _fold(
    graph: Graph,
    conv: Node,
    norm: Node,
    scale: np.ndarray,
    shift: np.ndarray,
    attrs: dict[str, Any],
    biased: bool,
    new_params: dict[str, np.ndarray],
) -> Node:
    """The convolution computing ``scale[k] * conv(x) + shift[k]`` (float64 algebra)."""
    weight = np.asarray(graph.params[conv.params["weight"]], dtype=np.float64)
    if weight.shape[0] != scale.shape[0]:
        raise InternalError(f"{conv.name}: {weight.shape[0]} filters but {scale.shape[0]} scales")
    bias: np.ndarray | float = 0.0
    if biased:
        bias = np.asarray(graph.params[conv.params["bias"]], np.float64).reshape(-1)
    w_key, b_key = f"{conv.name}.folded.weight", f"{conv.name}.folded.bias"
    new_params[w_key] = (weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))).astype(np.float32)
    new_params[b_key] = (bias * scale + shift).astype(np.float32)
    return replace(
        conv,
        outputs=norm.outputs,
        attrs=attrs,
        params={**conv.params, "weight": w_key, "bias": b_key},
    )


def _vec(graph: Graph, node: Node, role: str) -> np.ndarray:
    return np.asarray(graph.params[node.params[role]], dtype=np.float64).reshape(-1)


def fold_dlib_norm(graph: Graph) -> tuple[Graph, bool]:
    """dlib ``con`` + ``bn_con``/``affine_con`` -> one ``con`` (see the module docstring)."""
    if graph.framework != "dlib":
        return graph, False
    merged: dict[int, tuple[int, Node]] = {}
    new_params: dict[str, np.ndarray] = {}
    for i, j in _single_consumer_pairs(graph, {"con"}, {"bn_con", "affine_con"}):
        conv, norm = graph.nodes[i], graph.nodes[j]
        biased = bool(conv.attr("use_bias", True)) and "bias" in conv.params
        if biased and conv.attr("use_relu", False):
            continue  # relu sits between the convolution and the norm
        if norm.op == "affine_con":
            if norm.attr("disabled", False):
                continue
            scale, shift = _vec(graph, norm, "gamma"), _vec(graph, norm, "beta")
        else:
            if "running_mean" not in norm.params:
                continue
            eps = float(norm.attr("eps", DLIB_BATCH_NORM_EPS))
            scale = _vec(graph, norm, "gamma") / np.sqrt(_vec(graph, norm, "running_var") + eps)
            shift = _vec(graph, norm, "beta") - _vec(graph, norm, "running_mean") * scale
        attrs = {**conv.attrs, "use_bias": True, "use_relu": False}
        merged[i] = (j, _fold(graph, conv, norm, scale, shift, attrs, biased, new_params))
    if not merged:
        return graph, False
    return _rebuild(graph, merged, new_params), True


def fuse_dlib_relu(graph: Graph) -> tuple[Graph, bool]:
    """A biased dlib ``con`` whose only consumer is ``relu`` -> ``con`` with ``use_relu``."""
    if graph.framework != "dlib":
        return graph, False
    merged: dict[int, tuple[int, Node]] = {}
    for i, j in _single_consumer_pairs(graph, {"con"}, {"relu"}):
        conv = graph.nodes[i]
        if not (conv.attr("use_bias", True) and "bias" in conv.params) or conv.attr("use_relu"):
            continue
        attrs = {**conv.attrs, "use_relu": True}
        fused = replace(conv, outputs=graph.nodes[j].outputs, attrs=attrs)
        merged[i] = (j, fused)
    if not merged:
        return graph, False
    return _rebuild(graph, merged, {}), True


def fold_mxnet_batchnorm(graph: Graph) -> tuple[Graph, bool]:
    """MXNet ``Convolution`` + ``BatchNorm`` (axis 1) -> one ``Convolution`` with bias."""
    if graph.framework != "mxnet":
        return graph, False
    merged: dict[int, tuple[int, Node]] = {}
    new_params: dict[str, np.ndarray] = {}
    for i, j in _single_consumer_pairs(graph, {"Convolution"}, {"BatchNorm"}):
        conv, norm = graph.nodes[i], graph.nodes[j]
        if int(norm.attr("axis", 1)) != 1 or conv.attr("layout") not in (None, "NCHW"):
            continue
        gamma = _vec(graph, norm, "gamma")
        if _truthy(norm.attr("fix_gamma", True)):
            gamma = np.ones_like(gamma)
        eps = float(norm.attr("eps", MXNET_BATCH_NORM_EPS))
        scale = gamma / np.sqrt(_vec(graph, norm, "moving_var") + eps)
        shift = _vec(graph, norm, "beta") - _vec(graph, norm, "moving_mean") * scale
        biased = not _truthy(conv.attr("no_bias", False)) and "bias" in conv.params
        attrs = {**conv.attrs, "no_bias": False}
        merged[i] = (j, _fold(graph, conv, norm, scale, shift, attrs, biased, new_params))
    if not merged:
        return graph, False
    return _rebuild(graph, merged, new_params), True


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


PASSES: dict[str, tuple[PassFn, ...]] = {
    "dlib": (fold_dlib_norm, fuse_dlib_relu, pad_dlib_channels, depthwise_single_filter_con),
    "mxnet": (fold_mxnet_batchnorm,),
}


def run_passes(graph: Graph, passes: tuple[PassFn, ...]) -> tuple[Graph, list[str]]:
    """Apply each pass once, in order; returns the graph and the names of passes that changed it."""
    applied: list[str] = []
    for fn in passes:
        try:
            graph, changed = fn(graph)
        except InternalError as exc:
            raise InternalError(f"pass {fn.__name__}: {exc}") from exc
        if changed:
            applied.append(fn.__name__)
            log.debug("pass %s changed the graph (%d nodes)", fn.__name__, len(graph.nodes))
    return graph, applied


def optimize(graph: Graph) -> tuple[Graph, list[str]]:
    """Every speed pass known for the graph's framework (none for the others)."""
    return run_passes(graph, PASSES.get(graph.framework, ()))
