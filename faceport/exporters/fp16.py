"""Float16 ONNX: the network's nodes in float16, named nodes and everything else in float32.

Built on onnxruntime's ``transformers.float16.convert_float_to_float16``, with one
correction. Its ``node_block_list`` keeps a blocked node's *compute* in float32, but a
tensor has one type per graph, so the output of every blocked node is cast to float16 and
cast back to float32 for the next blocked node: each tensor between two "float32" nodes is
still rounded to float16. In a whole detector that rounds all of pre/post-processing, the
thresholds and the scores (dlib MMOD: neighbouring score-map peaks 1.00640 and 1.00568 both
become 1.00586, NMS then keeps the wrong cell and the box moves 8 px). :func:`drop_round_trips`
removes every ``float32 -> Cast(float16) -> Cast(float32)`` pair the converter inserted, so
blocked nodes run in float32 end to end.

Which network nodes stay float32 is chosen per model kind (``ModelKind.fp16_fp32_nodes``,
:mod:`faceport.kinds`) through :func:`fp32_nodes` and recorded in the file's metadata
(``faceport.fp16_fp32_nodes``):

* dlib MMOD: the last ``con`` (the 1-filter 9x9 convolution producing the score map). Its
  output's float16 quantum near the detection scores (~1.0) is 2**-10 = 9.8e-4, coarser
  than the gap between neighbouring peaks (7.2e-4 measured), so a float16 score map ties
  them. Cost: 7 kB of the 390 kB file.
* RetinaFace, S3FD: none (recall 1.0 vs float32 with the whole network in float16).

Measured on the test photos (tests/exporters/test_detector_export.py), whole detectors,
fp16 boxes matching fp32 ones at IoU >= 0.9, onnxruntime 1.32 CPU:

=====================================  ===========  ===========  ==========
variant                                dlib         mnet.25      S3FD
=====================================  ===========  ===========  ==========
converter's block list as is           15/16        41/41        7/7
  ... plus the last 1..7 cons float32  15/16 or 16  -            -
round trips dropped, network all fp16  16/16 [*]    41/41        6/6 [#]
... plus the score-map con float32     16/16        -            -
size fp32 -> chosen fp16 (MB)          0.743 0.390  1.786 0.957  89.9 45.0
=====================================  ===========  ===========  ==========

[*] the two cells still tie at 1.005859 in float16; which one NMS keeps is then decided by
order and by whether onnxruntime fuses the Cast pair, hence the float32 score-map con.
[#] the S3FD test photo is now downscaled to half size (test time); 7/7 at full size.
On x86 CPUs onnxruntime has no float16 Conv kernels and casts around them, so float16
files halve the size but run at the float32 speed (dlib 375x500: 30 vs 27 ms, 1 thread).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from faceport.errors import ExportError
from faceport.ir import Graph

log = logging.getLogger(__name__)
FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto.FLOAT / FLOAT16


def fp32_nodes(graph: Graph, model: Any, net_prefix: str | None = None) -> list[str]:
    """Names of the ONNX nodes of ``model`` (exported from ``graph``) that stay float32 in
    its float16 variant, by the model kind's rule (see the module doc); ``net_prefix`` marks
    the network's nodes."""
    from faceport.kinds import kind_of, resolve

    rule = kind_of(graph).fp16_fp32_nodes
    if rule is None:
        return []
    kept: list[str] = resolve(rule)(graph, model, net_prefix)
    return kept


def last_conv(graph: Graph, model: Any, net_prefix: str | None = None) -> list[str]:
    """dlib MMOD: the score-map ``con``. Found by structure, not by exporter-specific naming:
    MMOD networks are a chain ending in their score-map ``con``, the last ``Conv`` of the
    network in the (topological) node order both torch exporters emit."""
    prefix = net_prefix or ""
    convs = [n.name for n in model.graph.node
             if n.op_type == "Conv" and n.name.startswith(prefix)]  # fmt: skip
    if not convs:
        raise ExportError("dlib MMOD network without a Conv node in its ONNX graph")
    return convs[-1:]


def to_float16(
    model: Any,
    *,
    keep_io_types: bool = True,
    net_prefix: str | None = None,
    keep_fp32: Sequence[str] = (),
) -> Any:
    """``model`` with float16 weights and compute (modified in place and returned).

    Converted at the ONNX level *after* the exporter folded batch norms in float32 (halving
    the torch module first would fold in float16, and a running variance above 65504 -
    mnet.25's first BatchNorm has 130243 - becomes inf); initialisers are clamped into
    float16's range. ``keep_io_types``: graph inputs/outputs stay float32. ``net_prefix``:
    only nodes whose name starts with it (``/net/`` in a whole detector) are converted.
    ``keep_fp32``: names of network nodes that stay float32 (:func:`fp32_nodes`).
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    def in_net(name: str) -> bool:
        return net_prefix is None or name.startswith(net_prefix)

    missing = set(keep_fp32) - {n.name for n in model.graph.node}
    if missing:
        raise ExportError("nodes to keep float32 are not in the graph", found=sorted(missing))
    block = [n.name for n in model.graph.node if not in_net(n.name)] + list(keep_fp32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(model, keep_io_types=keep_io_types, node_block_list=block)
    dropped = drop_round_trips(half)
    log.debug("float16: %d nodes kept float32, %d float16 round trips removed", len(block), dropped)
    return toposort(half)


def _cast_to(node: Any) -> int | None:
    return next((int(a.i) for a in node.attribute if a.name == "to"), None)


def drop_round_trips(model: Any) -> int:
    """Rewire every ``Cast(float32 -> float16) -> Cast(-> float32)`` pair to its float32
    source and delete the Casts left unused; returns the number of pairs bypassed."""
    graph = model.graph  # the converter leaves every tensor's type in value_info
    dtype = {v.name: v.type.tensor_type.elem_type
             for v in itertools.chain(graph.input, graph.value_info, graph.output)}  # fmt: skip
    dtype.update({t.name: t.data_type for t in model.graph.initializer})
    producer = {out: node for node in model.graph.node for out in node.output}
    graph_outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type != "Cast" or _cast_to(node) != FLOAT:
            continue
        src = producer.get(node.input[0])
        if src is None or src.op_type != "Cast" or _cast_to(src) != FLOAT16:
            continue
        if dtype.get(src.input[0]) != FLOAT:
            continue
        if node.output[0] in graph_outputs:
            node.input[0] = src.input[0]  # float32 -> float32: exact, keeps the output name
        else:
            rename[node.output[0]] = src.input[0]
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    while True:
        used = {name for node in model.graph.node for name in node.input} | graph_outputs
        dead = [n for n in model.graph.node if n.op_type == "Cast" and n.output[0] not in used]
        if not dead:
            break
        for node in dead:
            model.graph.node.remove(node)
    made = {out for node in model.graph.node for out in node.output}
    infos = [v for v in model.graph.value_info if v.name in made]
    del model.graph.value_info[:]
    model.graph.value_info.extend(infos)
    return len(rename)


def toposort(model: Any) -> Any:
    """Reorder ``model.graph.node`` topologically (stable: original order among ready nodes);
    the float16 converter appends its input Casts after their consumers."""
    nodes = list(model.graph.node)
    ready = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    ready.add("")  # an omitted optional input
    ordered, pending = [], nodes
    while pending:
        left = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                left.append(node)
        if len(left) == len(pending):
            raise ExportError("ONNX graph has a cycle or an undefined tensor",
                              found=[n.name for n in left[:5]])  # fmt: skip
        pending = left
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    return model
