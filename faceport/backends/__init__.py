"""The backend registry: every way faceport runs a converted graph, one entry each.

A :class:`Backend` is the Polygraphy pair: a *loader* turns a graph into an artifact (a
lowered ``torch.fx`` module, a TorchScript module, an ONNX file) and a *runner* runs the
artifact (:class:`~faceport.backends.base.Runner`: ``with runner: runner.infer(feed)``). The
entry also names the device and compute dtype (which pick the tolerance,
:func:`faceport.tolerance.tolerance_for`) and says why it cannot run here. verify, per-layer
localisation, the benchmarks and the CLI all go through :func:`make_runner`.

Adding a backend is one file in this package defining ``BACKENDS`` (a tuple of entries) plus
its module name in :data:`BACKEND_MODULES`. Backend modules import their runtime (torch,
onnxruntime) only when a runner is activated.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceport.backends.base import Feed, Outputs, Runner
from faceport.errors import FaceportError, InternalError

if TYPE_CHECKING:
    from faceport.ir import Graph
    from faceport.tolerance import Tolerance

#: modules defining ``BACKENDS``, in listing order
BACKEND_MODULES = (
    "faceport.backends.torch_eager",
    "faceport.backends.torchscript",
    "faceport.backends.onnxruntime",
    "faceport.backends.onnxruntime_ort",
    "faceport.backends.opencv",
    "faceport.backends.torch_export",
    "faceport.backends.executorch",
)


@dataclass(frozen=True)
class LoadOptions:
    """How to build an artifact. Each backend honours the options in its ``options`` set and
    refuses the others (:func:`make_runner`).

    ``optimize``: :func:`faceport.passes.optimize` first (norm folding, channel padding);
    ``channels_last``: torch NHWC memory format; ``freeze``: TorchScript ``freeze`` +
    ``optimize_for_inference``; ``fp16``: float16 ONNX weights and compute; ``threads``,
    ``spinning``, ``sequential``: onnxruntime session settings (:mod:`faceport.ort_session`).
    """

    optimize: bool = False
    channels_last: bool = False
    freeze: bool = False
    fp16: bool = False
    threads: int = 0
    spinning: bool = True
    sequential: bool = False

    def given(self) -> list[str]:
        """Names of the options that differ from the defaults."""
        default = LoadOptions()
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)]


Loader = Callable[["Graph", "Sequence[str] | None", LoadOptions, Path], Any]
RunnerFactory = Callable[[Any, "Backend", LoadOptions], Runner]


@dataclass(frozen=True)
class Backend:
    """One backend: ``load(graph, outputs, options, workdir) -> artifact`` and
    ``runner(artifact, backend, options) -> Runner``; ``unavailable(backend)`` says why it
    cannot run here (``None``: it can)."""

    name: str
    device: str
    dtype: str
    load: Loader
    runner: RunnerFactory
    unavailable: Callable[[Backend], str | None]
    #: the :class:`LoadOptions` fields this backend honours
    options: frozenset[str] = frozenset()
    #: whether the loader can expose intermediate tensors as outputs (layer taps)
    taps: bool = True
    summary: str = ""

    def why_unavailable(self) -> str | None:
        return self.unavailable(self)

    @property
    def tolerance(self) -> Tolerance:
        from faceport.tolerance import tolerance_for

        return tolerance_for(self.dtype, self.device)


_REGISTRY: dict[str, Backend] = {}


def _load() -> dict[str, Backend]:
    if not _REGISTRY:
        for module_name in BACKEND_MODULES:
            for backend in importlib.import_module(module_name).BACKENDS:
                if backend.name in _REGISTRY:
                    raise InternalError(f"backend {backend.name!r} registered twice")
                _REGISTRY[backend.name] = backend
    return _REGISTRY


def names() -> list[str]:
    """Every backend name, in listing order."""
    return list(_load())


def get(name: str) -> Backend:
    registry = _load()
    if name not in registry:
        raise FaceportError(f"unknown backend {name!r}", expected=[*registry, "all"], found=name)
    return registry[name]


def expand(requested: Sequence[str]) -> list[str]:
    """Resolve ``all`` and check names (order kept, duplicates dropped)."""
    out: list[str] = []
    for name in requested:
        for item in names() if name == "all" else [get(name).name]:
            if item not in out:
                out.append(item)
    return out


def make_runner(
    name: str,
    graph: Graph,
    outputs: Sequence[str] | None = None,
    options: LoadOptions | None = None,
) -> BackendRunner:
    """A runner of backend ``name`` over ``graph`` (``outputs``: tensor names to return,
    default the graph outputs). Nothing is built until it is activated; check
    ``why_unavailable()`` first. An option the backend does not honour is refused."""
    backend = get(name)
    options = options or LoadOptions()
    refused = [o for o in options.given() if o not in backend.options]
    if refused:
        raise FaceportError(
            f"backend {name} does not take load option(s) {', '.join(refused)}",
            expected=sorted(backend.options) or "none", found=refused,
        )  # fmt: skip
    if outputs is not None and not backend.taps:
        raise FaceportError(f"backend {name} cannot expose intermediate tensors")
    return BackendRunner(backend, graph, outputs, options)


class BackendRunner(Runner):
    """Loads the artifact on activation, then delegates to the backend's runner.

    ``artifact`` and ``build_s`` (seconds the loader took) are set while active."""

    def __init__(
        self,
        backend: Backend,
        graph: Graph,
        outputs: Sequence[str] | None,
        options: LoadOptions,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.graph = graph
        self.outputs = None if outputs is None else list(outputs)
        self.options = options
        self.name = backend.name
        self.device = backend.device
        self.dtype = "float16" if options.fp16 else backend.dtype
        self.artifact: Any = None
        self.build_s = 0.0
        self._inner: Runner | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def why_unavailable(self) -> str | None:
        return self.backend.why_unavailable()

    def activate(self) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix=f"faceport-{self.name}-")
        start = time.perf_counter()
        self.artifact = self.backend.load(
            self.graph, self.outputs, self.options, Path(self._workdir.name)
        )
        inner = self.backend.runner(self.artifact, self.backend, self.options)
        inner.__enter__()
        self._inner = inner
        self.build_s = time.perf_counter() - start

    def run(self, feed: Feed) -> Outputs:
        assert self._inner is not None
        return self._inner.infer(feed)

    def deactivate(self) -> None:
        if self._inner is not None:
            self._inner.__exit__(None, None, None)
            self._inner = None
        self.artifact = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def with_outputs(graph: Graph, outputs: Sequence[str] | None, options: LoadOptions) -> Graph:
    """:func:`prepared` ``graph`` returning ``outputs`` (default: its own), for loaders whose
    runner exports per fed shape (OpenCV DNN, torch.export fixed programs)."""
    from dataclasses import replace

    source = prepared(graph, options)
    return source if outputs is None else replace(source, outputs=tuple(outputs))


def prepared(graph: Graph, options: LoadOptions) -> Graph:
    """``graph`` after the speed passes when ``options.optimize`` asks for them."""
    if not options.optimize:
        return graph
    from faceport import passes

    return passes.optimize(graph)[0]
