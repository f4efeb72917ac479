"""The contract between the dlib readers, the graph builder, the converters and detectors.

Both readers (``xml_reader`` for ``net_to_xml`` output, ``dat_reader`` for dlib's binary
serialization) produce the same neutral list of :class:`DlibLayer` records, ordered as dlib
numbers layers: index 0 is the loss layer (outermost), the last record is the input layer.
``graph_builder.build_graph`` turns that list into the IR.

Conventions (every dlib helper follows them; the XML/.dat equality test enforces them):

* ``kind`` is the tag ``net_to_xml`` writes for the layer (``con``, ``cont``, ``fc``,
  ``fc_no_bias``, ``relu``, ``prelu``, ``leaky_relu``, ``sig``, ``htan``, ``elu``, ``gelu``,
  ``mish``, ``clipped_relu``, ``softmax``, ``softmax_all``, ``affine_con``, ``affine_fc``,
  ``bn_con``, ``bn_fc``, ``max_pool``, ``avg_pool``, ``add_prev``, ``mult_prev``,
  ``concat``, ``upsample``, ``resize_to``, ``l2normalize``, ``dropout``, ``multiply``,
  ``extract``, ...), or ``tag`` / ``skip`` for tag and skip layers, or the loss tag
  (``loss_mmod``, ``loss_metric``, ``loss_multiclass_log``, ``loss_binary_log``, ...), or
  the input layer's tag (``input_rgb_image``, ``input_rgb_image_sized``,
  ``input_rgb_image_pyramid``, ``input_grayscale_image_pyramid``, ``input_rgb_image_pair``,
  ``input_tensor``, ``input``). dlib 20 kinds: ``rms_norm``, ``linear``, ``embeddings``,
  ``positional_encodings``, ``tril``, ``transpose``, ``slice``, ``reshape_to``,
  ``multm_prev`` (``{"tag": int}``), ``softmax`` with attr mode (channel_wise or
  plane_wise). ``repeat<>`` layers arrive unrolled into plain records.
* Float attrs hold the value as ``net_to_xml`` prints it (9 significant digits).
* ``attrs`` use ``net_to_xml``'s attribute names with typed values (int, float, bool, str,
  lists). Wiring ids: ``tag``/``skip`` records carry ``{"id": int}``; ``add_prev`` and
  ``mult_prev`` carry ``{"tag": int}``; ``concat`` carries ``{"tags": [int, ...]}``. The
  .dat does not serialize these ids; its reader resolves them (or raises) before handing the
  list on. Ids are consumed by the graph builder and do not appear in the IR.
* ``params`` use roles and shapes below (float32, C order), whichever file they came from:

  =====================  ======================================================
  layer                  params (role: shape)
  =====================  ======================================================
  con                    weight: (num_filters, k_in, nr, nc); bias: (num_filters,)
                         (bias absent when the layer has no bias)
  cont                   weight: (k_in, num_filters, nr, nc); bias: (num_filters,)
  fc, fc_no_bias         weight: (num_inputs, num_outputs) (dlib's layout, *not*
                         torch's); bias: (num_outputs,) (absent for fc_no_bias)
  affine_con             gamma, beta: (k,)
  affine_fc              gamma, beta: (k * nr * nc,)
  bn_con                 gamma, beta, running_mean, running_var: (k,)
  bn_fc                  gamma, beta, running_mean, running_var: (k * nr * nc,)
  prelu                  alpha: (1,)
  layer_norm             gamma, beta: (k,) (dlib 20; dlib 19.24: (k * nr * nc,))
  rms_norm               gamma: (k,)
  linear                 weight: (num_inputs, num_outputs) (dlib's layout, over the
                         last axis nc only); bias: (num_outputs,) (absent when
                         attr bias is false)
  embeddings             embeddings: (num_embeddings, embedding_dim)
  =====================  ======================================================

* The input layer and the loss layer's options are not graph nodes' attrs: the graph
  builder stores them in ``Graph.meta["input"]`` and ``Graph.meta["loss"]`` as
  ``{"kind": ..., **attrs}``. The loss layer still becomes a graph node (an identity head
  named after its kind) so every dlib layer index has a node.
* Node names are ``f"{kind}_{idx}"`` (``con_1``, ``relu_2``, ``tag_45``, ``loss_mmod_0``);
  a node's single output tensor has the node's name; the graph input is ``"input"``, the
  tensor dlib's input layer produces (N, k, H, W) float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceport.ir import Source

INPUT_KINDS = frozenset(
    {
        "input",
        "input_rgb_image",
        "input_rgb_image_sized",
        "input_rgb_image_pyramid",
        "input_grayscale_image_pyramid",
        "input_rgb_image_pair",
        "input_tensor",
    }
)
LOSS_PREFIX = "loss_"


@dataclass(frozen=True)
class DlibLayer:
    """One dlib layer as read from a file (see the module docstring for conventions)."""

    idx: int
    kind: str
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    source: Source = field(default_factory=Source)

    @property
    def is_input(self) -> bool:
        return self.kind in INPUT_KINDS

    @property
    def is_loss(self) -> bool:
        return self.kind.startswith(LOSS_PREFIX)

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.idx}"
