"""S3FD converters, one module per source op, registered as ``("s3fd", op)``."""

from faceport.converters.s3fd.ops import conv, l2norm, maxout, maxpool, relu

__all__ = ["conv", "l2norm", "maxout", "maxpool", "relu"]
