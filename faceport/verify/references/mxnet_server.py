"""Run MXNet checkpoints for faceport's parity checks (runs INSIDE .venv-mxnet, needs mxnet).

A JSON-lines server: read one request per line on stdin, answer one line on stdout.

Request::

    {"id": 1, "symbol": "x-symbol.json", "params": "x-0000.params",
     "inputs": "in.npz", "result": "out.npz", "outputs": null | ["conv0", "relu1_output"]}

``outputs`` null means the symbol's own outputs; names may be internal nodes (``name`` or
``name_output``; ``sym.get_internals()``). The arrays are written to ``result`` keyed by the
requested name (for the default outputs, MXNet's output name without ``_output``).

Answer::

    {"id": 1, "ok": true, "outputs": ["a", "b"], "seconds": 0.01}
    {"id": 1, "ok": false, "error": "...traceback tail..."}

With ``"detect": {"threshold": 0.5, "nms": 0.4}`` the inputs npz holds a uint8 RGB
``image`` and the server runs insightface's whole RetinaFace ``detect`` on it
(``mxnet_insightface``), writing ``boxes``, ``scores`` and ``landmarks``; ``seconds`` then
times that pipeline alone.

A failing request does not end the server. Executors are cached per (symbol, params,
outputs, input shapes), so a second image of the same size only runs the forward pass.
Inference semantics are those of ``mx.mod.Module(...).forward(batch, is_train=False)``:
BatchNorm uses the moving statistics, Dropout is the identity.

With ``--once REQUEST.json`` it serves a single request and exits (for debugging).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import zipfile
from typing import Any

import numpy as np


def _protocol_stream() -> Any:
    """A private copy of stdout for answers; fd 1 then points at stderr so that anything
    MXNet (or numpy) prints cannot corrupt the protocol."""
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", buffering=1)


def _output_name(name: str) -> str:
    return name[: -len("_output")] if name.endswith("_output") else name


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write an ``.npz`` with arbitrary array names, atomically (``np.savez(**arrays)`` would
    take names such as ``file`` or ``like`` as its own keywords)."""
    tmp = f"{path}.part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
    os.replace(tmp, path)


def _file_key(path: str) -> str:
    """Cache key of a file: its path, size and mtime (a regenerated fixture is reloaded)."""
    if not path:
        return ""
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


class Runner:
    def __init__(self) -> None:
        import mxnet as mx

        self.mx = mx
        self.symbols: dict[str, Any] = {}
        self.params: dict[str, dict[str, Any]] = {}
        self.executors: dict[tuple[Any, ...], tuple[Any, list[str]]] = {}

    def _symbol(self, path: str) -> Any:
        key = _file_key(path)
        if key not in self.symbols:
            self.symbols[key] = self.mx.sym.load(path)
        return self.symbols[key]

    def _params(self, path: str) -> dict[str, Any]:
        key = _file_key(path)
        if key not in self.params:
            loaded = self.mx.nd.load(path) if path else {}
            # a checkpoint without weights is saved as an empty list
            self.params[key] = loaded if isinstance(loaded, dict) else {}
        return self.params[key]

    def _target(self, sym: Any, outputs: list[str] | None) -> tuple[Any, list[str]]:
        if outputs is None:
            return sym, [_output_name(n) for n in sym.list_outputs()]
        internals = sym.get_internals()
        available = set(internals.list_outputs())
        picked = []
        for name in outputs:
            key = name if name in available else f"{name}_output"
            if key not in available:
                raise KeyError(f"{name!r} is not an output of any node of the symbol")
            picked.append(internals[key])
        return self.mx.sym.Group(picked), list(outputs)

    def executor(
        self, request: dict[str, Any], feed: dict[str, np.ndarray]
    ) -> tuple[Any, list[str]]:
        outputs = request.get("outputs")
        key = (
            _file_key(request["symbol"]),
            _file_key(request.get("params", "")),
            None if outputs is None else tuple(outputs),
            tuple((k, v.shape, str(v.dtype)) for k, v in sorted(feed.items())),
        )
        if key in self.executors:
            return self.executors[key]
        mx = self.mx
        sym, names = self._target(self._symbol(request["symbol"]), outputs)
        saved = self._params(request.get("params", ""))
        arg_params = {k[4:]: v for k, v in saved.items() if k.startswith("arg:")}
        aux_params = {k[4:]: v for k, v in saved.items() if k.startswith("aux:")}
        shapes = {k: v.shape for k, v in feed.items()}
        types = {k: v.dtype for k, v in feed.items()}
        arg_shapes, _, _ = sym.infer_shape_partial(**shapes)
        arg_types, _, aux_types = sym.infer_type(**types)
        args = {}
        for name, shape, dtype in zip(sym.list_arguments(), arg_shapes, arg_types):
            if name in feed:
                continue
            if name in arg_params:
                args[name] = arg_params[name].astype(dtype or "float32")
            else:  # a label variable (SoftmaxOutput...) unused at inference: zeros
                args[name] = mx.nd.zeros(shape, dtype=dtype or "float32")
        aux = {}
        for name, dtype in zip(sym.list_auxiliary_states(), aux_types):
            if name not in aux_params:
                raise KeyError(f"params file lacks auxiliary state {name!r} (aux:{name})")
            aux[name] = aux_params[name].astype(dtype or "float32")
        for name, value in feed.items():
            args[name] = mx.nd.array(value, dtype=value.dtype)
        exe = self._bind(sym, args, aux, tapped=outputs is not None)
        self.executors[key] = (exe, names)
        return exe, names

    def _bind(self, sym: Any, args: dict[str, Any], aux: dict[str, Any], tapped: bool) -> Any:
        """Bind for inference. With internal outputs tapped, MXNet's MKLDNN subgraph pass
        (on by default in the pip build) fails to bind ("arg_names.size() ==
        in_args_map.size()"), so it is switched off for that bind only: per-node values are
        then those of the unfused operators."""
        previous = os.environ.get("MXNET_SUBGRAPH_BACKEND")
        if tapped:
            os.environ["MXNET_SUBGRAPH_BACKEND"] = "NONE"
        try:
            return sym.bind(self.mx.cpu(), args=args, aux_states=aux, grad_req="null")
        finally:
            if previous is None:
                os.environ.pop("MXNET_SUBGRAPH_BACKEND", None)
            else:
                os.environ["MXNET_SUBGRAPH_BACKEND"] = previous

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("detect"):
            return self.detect(request)
        started = time.perf_counter()
        with np.load(request["inputs"], allow_pickle=False) as data:
            feed = {k: data[k] for k in data.files}
        exe, names = self.executor(request, feed)
        for name, value in feed.items():
            exe.arg_dict[name][:] = value
        results = exe.forward(is_train=False)
        save_npz(request["result"], {n: out.asnumpy() for n, out in zip(names, results)})
        return {"outputs": names, "seconds": time.perf_counter() - started}


    def detect(self, request: dict[str, Any]) -> dict[str, Any]:
        """insightface's RetinaFace ``detect`` (see ``mxnet_insightface``) on the uint8 RGB
        ``image`` of the inputs npz; ``seconds`` times the pipeline alone (no npz I/O)."""
        import mxnet_insightface as pipeline

        with np.load(request["inputs"], allow_pickle=False) as data:
            image = data["image"]
        options = request["detect"]
        started = time.perf_counter()
        tensor = pipeline.preprocess(image)
        exe, _ = self.executor(request, {"data": tensor})
        exe.arg_dict["data"][:] = tensor
        outputs = exe.forward(is_train=False)
        found = pipeline.postprocess(outputs, image.shape[0], image.shape[1],
                                     float(options.get("threshold", 0.5)),
                                     float(options.get("nms", 0.4)))
        seconds = time.perf_counter() - started
        save_npz(request["result"], found)
        return {"outputs": sorted(found), "seconds": seconds}


def _answer(runner: Runner, line: str) -> dict[str, Any]:
    request: dict[str, Any] = {}
    try:
        request = json.loads(line)
        answer = runner.serve(request)
        answer.update(id=request.get("id"), ok=True)
        return answer
    except Exception as exc:  # every failure goes back to the caller, the server lives on
        tail = "".join(traceback.format_exception(exc))[-4000:]
        return {"id": request.get("id"), "ok": False, "error": tail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", help="serve this one request file and exit")
    args = parser.parse_args(argv)
    out = _protocol_stream()
    runner = Runner()
    if args.once:
        with open(args.once) as f:
            answer = _answer(runner, f.read())
        out.write(json.dumps(answer) + "\n")
        return 0 if answer["ok"] else 1
    out.write(json.dumps({"ready": True, "mxnet": runner.mx.__version__}) + "\n")
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(_answer(runner, line)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
