"""Turn dlib layer records (either reader's output) into the IR.

dlib numbers layers from the output (0) to the input (last) and wires them implicitly:
every layer reads the layer below it (its ``subnet``), except that

* ``tag<N>`` is an identity marking its output for later reference,
* ``skip<N>`` outputs ``layer<tagN>(subnet)``: the output of the *nearest* tag ``N`` below
  it (dlib's ``layer<TAG>`` search walks down the subnet, so with repeated ids the most
  recently defined tag in forward order wins),
* ``add_prev``/``mult_prev``/``resize_prev_to_tagged``/``scale``/``scale_prev`` read their
  subnet *and* the nearest tag ``N``,
* ``concat`` reads only its tagged layers, in the order of its ``tags`` list.

:func:`build_graph` walks the records input-first (the topological order the IR wants)
and makes those reads explicit tensor inputs: every node's inputs are ``(subnet output,
tagged output)`` for the two-input layers, ``(tagged outputs...)`` for concat and
``(tagged output,)`` for skip. Node names, params and meta follow ``layers.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from faceport.converters.dlib.layers import DlibLayer
from faceport.errors import FormatError
from faceport.ir import Graph, Node, Source, TensorSpec

log = logging.getLogger(__name__)

GRAPH_INPUT = "input"
#: layers that read their subnet and the nearest tag given by attrs["tag"]
TAGGED_BINARY = frozenset(
    {"add_prev", "mult_prev", "multm_prev", "resize_prev_to_tagged", "scale", "scale_prev"}
)
_WIRING_ATTRS = frozenset({"id", "tag", "tags"})
# dlib's input_rgb_image_pyramid defaults when a file predates the padding fields
_PYRAMID_DEFAULTS = {"pyramid_padding": 10, "pyramid_outer_padding": 11}
_CHANNELS = {
    "input_rgb_image": 3,
    "input_rgb_image_sized": 3,
    "input_rgb_image_pyramid": 3,
    "input_grayscale_image_pyramid": 1,
    "input_rgb_image_pair": 3,
}


def build_graph(
    layers: Sequence[DlibLayer],
    *,
    file: str | os.PathLike[str],
    sha256: str,
    extra_meta: Mapping[str, Any] | None = None,
) -> Graph:
    """A validated :class:`Graph` from records in dlib index order (0 = output side).

    ``extra_meta`` (a reader's facts) is merged into ``meta``; its ``"input"`` and
    ``"loss"`` mappings update the ones built from the layers. Raises
    :class:`FormatError` naming the layer for broken numbering or wiring.
    """
    name = str(file)
    ordered = _check_numbering(layers, name)
    input_layer = ordered[-1]
    loss_layer = ordered[0] if ordered[0].is_loss else None

    nodes: list[Node] = []
    params: dict[str, np.ndarray] = {}
    tags: dict[int, str] = {}  # tag id -> tensor of the most recent tag in forward order
    current = GRAPH_INPUT
    for layer in reversed(ordered[:-1]):
        where = _source(layer, name)
        inputs = _inputs(layer, current, tags, name)
        roles = {}
        for role, array in layer.params.items():
            key = f"{layer.name}.{role}"
            params[key] = np.ascontiguousarray(array, dtype=np.float32)
            roles[role] = key
        attrs = {k: v for k, v in layer.attrs.items() if k not in _WIRING_ATTRS}
        if layer.is_loss:
            attrs = {}  # the loss's options live in meta["loss"]
        nodes.append(Node(layer.kind, layer.name, inputs, (layer.name,), attrs, roles, where))
        if layer.kind == "tag":
            tags[_tag_id(layer, "id", name)] = layer.name
        current = layer.name

    meta: dict[str, Any] = {
        "family": "dlib",
        "input": _input_meta(input_layer),
        "loss": None if loss_layer is None else {"kind": loss_layer.kind, **loss_layer.attrs},
        "source": {"file": os.path.basename(name), "sha256": sha256},
    }
    for key, value in (extra_meta or {}).items():
        if key in ("input", "loss") and isinstance(value, Mapping) and meta[key] is not None:
            meta[key] = {**meta[key], **value}
        else:
            meta[key] = value
    spec = TensorSpec(GRAPH_INPUT, _input_shape(input_layer))
    graph = Graph("dlib", (spec,), tuple(nodes), (current,), params, meta)
    return graph.validate()


def _check_numbering(layers: Sequence[DlibLayer], name: str) -> list[DlibLayer]:
    """Layers sorted by index; indices 0..n-1 each once, one input layer, last."""
    if not layers:
        raise FormatError("the network has no layers", file=name, field="layers")
    ordered = sorted(layers, key=lambda layer: layer.idx)
    for position, layer in enumerate(ordered):
        if layer.idx != position:
            raise FormatError(
                f"layer indices are not 0..{len(ordered) - 1}",
                file=_where(layer, name),
                field="layer.idx",
                expected=position,
                found=layer.idx,
            )
        last = position == len(ordered) - 1
        if layer.is_input != last:
            raise FormatError(
                "the input layer must be the last (highest-index) layer and appear once",
                file=_where(layer, name),
                field=f"layer {layer.idx}",
                expected="input layer" if last else "a non-input layer",
                found=layer.kind,
            )
        if layer.is_loss and position != 0:
            raise FormatError(
                "a loss layer may only be layer 0",
                file=_where(layer, name),
                field=f"layer {layer.idx}",
                found=layer.kind,
            )
    if len(ordered) == 1:
        raise FormatError("the network has an input layer and nothing else", file=name)
    return ordered


def _inputs(layer: DlibLayer, current: str, tags: dict[int, str], name: str) -> tuple[str, ...]:
    if layer.kind == "skip":
        return (_tagged(layer, "id", tags, name),)
    if layer.kind in TAGGED_BINARY:
        return (current, _tagged(layer, "tag", tags, name))
    if layer.kind == "concat":
        ids = layer.attrs.get("tags")
        if not isinstance(ids, list) or not ids:
            raise FormatError(
                f"concat layer {layer.idx} needs a non-empty tag list",
                file=_where(layer, name),
                field="concat.tags",
                found=ids,
            )
        return tuple(_lookup(layer, tag_id, tags, name) for tag_id in ids)
    return (current,)


def _tagged(layer: DlibLayer, key: str, tags: dict[int, str], name: str) -> str:
    return _lookup(layer, _tag_id(layer, key, name), tags, name)


def _tag_id(layer: DlibLayer, key: str, name: str) -> int:
    tag_id = layer.attrs.get(key)
    if not isinstance(tag_id, int) or isinstance(tag_id, bool) or tag_id < 0:
        raise FormatError(
            f"{layer.kind} layer {layer.idx} lacks its tag id",
            file=_where(layer, name),
            field=f"{layer.kind}.{key}",
            expected="int >= 0",
            found=tag_id,
        )
    return tag_id


def _lookup(layer: DlibLayer, tag_id: int, tags: dict[int, str], name: str) -> str:
    if tag_id not in tags:
        raise FormatError(
            f"{layer.kind} layer {layer.idx} refers to tag {tag_id}, which no layer below defines",
            file=_where(layer, name),
            field=f"layer {layer.idx}",
            expected=f"a tag layer with id {tag_id} at a higher index",
            found=sorted(tags),
        )
    return tags[tag_id]


def _input_meta(layer: DlibLayer) -> dict[str, Any]:
    meta = {"kind": layer.kind, **layer.attrs}
    if layer.kind in ("input_rgb_image_pyramid", "input_grayscale_image_pyramid"):
        for key, default in _PYRAMID_DEFAULTS.items():
            meta.setdefault(key, default)
    return meta


def _input_shape(layer: DlibLayer) -> tuple[int | None, ...]:
    channels = _CHANNELS.get(layer.kind)
    if layer.kind == "input_rgb_image_sized":
        return (None, 3, int(layer.attrs["nr"]), int(layer.attrs["nc"]))
    return (None, channels, None, None)


def _source(layer: DlibLayer, name: str) -> Source:
    if layer.source.file is not None:
        return layer.source
    return Source(os.path.basename(name), layer.source.line, layer.source.offset, layer.source.key)


def _where(layer: DlibLayer, name: str) -> str:
    return str(_source(layer, name))
