"""The source frameworks as references: one entry per reference, named by the model kinds.

A model kind (:mod:`faceport.kinds`) names the reference that computes its raw outputs and
per-layer taps (``reference_runner``) and the one that runs the source framework's own detector
(``reference_detector``); this registry maps those names to their module:

=================  =========================================================================
``dlib-cpp``       dlib's C++ library through the ``dlib_ref`` dumper (``make dlib-ref``)
``dlib-bin``       dlib's Python bindings (``pip install dlib-bin``)
``mxnet``          MXNet 1.9.1 in its own venv (``make reference-mxnet``)
``s3fd-reference`` an independent S3FD written from the paper (:mod:`.s3fd_model`)
=================  =========================================================================

Each module provides ``runner(graph, source, taps) -> Runner`` and/or
``detector(graph, source) -> Detector``; both are cheap to make and say why they cannot run
(``why_unavailable()``). Built tools and venvs are found by :mod:`.paths`. Adding a reference
is one module here plus one line in :data:`REFERENCES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faceport.kinds import kind_of

if TYPE_CHECKING:
    from faceport.backends.base import Runner
    from faceport.detect.base import Detector
    from faceport.ir import Graph

REFERENCES = {
    "dlib-cpp": "faceport.verify.references.dlib_cpp",
    "dlib-bin": "faceport.verify.references.dlib_bin",
    "mxnet": "faceport.verify.references.mxnet_graph",
    "s3fd-reference": "faceport.verify.references.s3fd",
}


def reference_runner(
    graph: Graph,
    source: Path,
    taps: Sequence[str] | None = None,
    *,
    timeout: float | None = None,
) -> tuple[Runner | None, str]:
    """(the kind's raw-output reference on ``source``, its name or why there is none).
    ``timeout``: seconds one inference may take (references that run out of process)."""
    kind = kind_of(graph)
    if kind.reference_runner is None:
        return None, f"no reference computes the raw outputs of a {kind.title}"
    module = importlib.import_module(REFERENCES[kind.reference_runner])
    made: Runner = module.runner(
        graph, Path(source), None if taps is None else list(taps), timeout=timeout
    )
    return made, kind.reference_runner


def reference_detector(graph: Graph, source: Path) -> tuple[Detector | None, str]:
    """(the source framework's own detector for ``source``, its name or why there is none)."""
    kind = kind_of(graph)
    if kind.reference_detector is None:
        return None, f"no reference detector for a {kind.title}"
    module = importlib.import_module(REFERENCES[kind.reference_detector])
    made: Detector = module.detector(graph, Path(source))
    return made, kind.reference_detector
