"""The one place onnxruntime sessions are configured (verify, localisation, export checks and
benchmarks all open theirs here).

:func:`open_session` builds a CPU session with ``ORT_ENABLE_ALL`` graph optimisation. Options:
``threads`` intra-op threads (0: onnxruntime's default, one per core); ``spinning=False`` parks
idle intra-op threads instead of letting them spin after each run (they would take the cores
from whatever runs next: round-robin benchmark timing); ``sequential`` runs nodes one after
another with one inter-op thread (the graphs here are chains); ``mem_pattern=False`` stops
onnxruntime planning buffers from the first input's shapes (needed by per-layer tap exports
whose intermediate outputs change size with the image); ``ort_format`` loads an ORT-format
file. ``onnxruntime`` is imported only when a session is opened.
"""

from __future__ import annotations

import os
from typing import Any

PROVIDERS = ["CPUExecutionProvider"]


def session_options(
    *,
    threads: int = 0,
    spinning: bool = True,
    sequential: bool = False,
    mem_pattern: bool = True,
    ort_format: bool = False,
) -> Any:
    """An ``onnxruntime.SessionOptions`` with faceport's settings (see the module doc)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if sequential:
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not mem_pattern:
        options.enable_mem_pattern = False
    if ort_format:
        options.add_session_config_entry("session.load_model_format", "ORT")
    return options


def open_session(model: str | os.PathLike[str] | bytes, **settings: Any) -> Any:
    """An ``onnxruntime.InferenceSession`` over a file path or serialized model bytes."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(**settings), providers=PROVIDERS)


def why_unavailable() -> str | None:
    """``None`` when onnxruntime imports, else how to install it."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed: pip install onnxruntime"
    return None
