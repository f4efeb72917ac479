"""verify/: run the source framework and every converted form on the same inputs and compare.

Backends live behind one :class:`~faceport.backends.base.Runner` interface; comparisons
return values (:mod:`faceport.verify.compare`) with a readable ``str()``.
"""
