"""Named single-thread workers shared by the readers and detectors (created on first use).

One worker per purpose (hashing a source, decoding XML layers, the second half of a pyramid
level), so independent uses never queue behind each other and nothing starts at import.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_WORKERS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def worker(name: str) -> ThreadPoolExecutor:
    """The one-thread executor called ``name`` (thread names ``faceport-<name>``)."""
    with _LOCK:
        pool = _WORKERS.get(name)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"faceport-{name}")
            _WORKERS[name] = pool
        return pool
