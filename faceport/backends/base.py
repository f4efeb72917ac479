"""The one interface every backend implements (Polygraphy's runner/loader split).

Usage::

    with runner:                       # activate: load the model, start the session
        outputs = runner.infer(feed)   # {input name: array} -> {output name: array}

Loading is lazy (in ``activate``), so constructing runners for a whole matrix is cheap and a
missing backend is reported by :meth:`Runner.available` before any work is done. The reference
framework (dlib, MXNet in its venv, the S3FD reference) is just another runner.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import TracebackType

import numpy as np

from faceport.errors import BackendUnavailable

Feed = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]


class RunnerUnavailable(BackendUnavailable):
    """This runner's backend is missing here; the message says what would enable it."""


class Runner(abc.ABC):
    """A backend that maps named input arrays to named output arrays.

    Subclasses set :attr:`name` (unique within a comparison, e.g. ``"torch-cpu"``,
    ``"onnxruntime-cpu"``, ``"dlib"``), :attr:`device` and :attr:`dtype`, and implement
    :meth:`activate`, :meth:`run` and optionally :meth:`deactivate` / :meth:`why_unavailable`.
    """

    name: str = "runner"
    device: str = "cpu"
    dtype: str = "float32"

    def __init__(self) -> None:
        self._active = False

    def why_unavailable(self) -> str | None:
        """``None`` when the backend can run here, else what is missing and how to get it."""
        return None

    def available(self) -> bool:
        return self.why_unavailable() is None

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model / start the session (called once by ``__enter__``)."""

    @abc.abstractmethod
    def run(self, feed: Feed) -> Outputs:
        """Run one inference; outputs are float32/float64 numpy arrays keyed by name."""

    def deactivate(self) -> None:
        """Release the session (called by ``__exit__``)."""

    def infer(self, feed: Feed) -> Outputs:
        if not self._active:
            raise RuntimeError(f"runner {self.name!r} used outside 'with runner:'")
        return self.run(feed)

    def __enter__(self) -> Runner:
        reason = self.why_unavailable()
        if reason is not None:
            raise RunnerUnavailable(f"runner {self.name!r} is unavailable: {reason}")
        self.activate()
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self.deactivate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={self.device!r})"
