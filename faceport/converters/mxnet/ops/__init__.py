"""Converters for MXNet ops, one module per op group; importing this registers them all.

The registry imports this package on the first ``mxnet`` lookup, so torch is imported here
and not by ``import faceport``.
"""

from faceport.converters.mxnet.ops import activation, conv, elementwise, norm, pool, shape, split

__all__ = ["activation", "conv", "elementwise", "norm", "pool", "shape", "split"]
