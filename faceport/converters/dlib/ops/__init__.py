"""torch converters for dlib's layer vocabulary, one registered function per layer kind.

Importing this package registers every converter (the registry imports it on first lookup
of a ``"dlib"`` op). Modules group layers by kind; ``table.markdown_table()`` renders the
registry as ``docs/dlib_layers.md``.
"""

from faceport.converters.dlib.ops import (
    activations,
    conv,
    loss,
    norm,
    pooling,
    reshape,
    resize,
    structure,
    transformer,
)

__all__ = [
    "activations",
    "conv",
    "loss",
    "norm",
    "pooling",
    "reshape",
    "resize",
    "structure",
    "transformer",
]
