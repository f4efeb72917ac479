"""MXNet checkpoints (``symbol.json`` + ``.params``), read without MXNet.

``params`` reads the NDArray-list file, ``symbol`` reads and validates the graph JSON,
``reader`` joins them into the IR with the symbol/params cross-check, ``ops`` holds one
converter per MXNet op, ``family`` is the :class:`~faceport.converters.Family` entry point.
"""
