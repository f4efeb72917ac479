"""Make MXNet parity fixtures (runs in .venv-mxnet): checkpoints, inputs and MXNet's outputs.

    .venv-mxnet/bin/python tools/mxnet_ref/make_fixtures.py --out build/mxnet_fixtures

Writes, all seeded (the same bytes every run):

* ``r50/retinaface_r50-{symbol.json,0000.params}``: the R50-style RetinaFace of
  ``r50_symbol.py`` with random weights (He-scaled convolutions; BatchNorm statistics of the
  right sign and scale: positive variances, ``bn_data`` normalising 0..255 pixels, gammas
  != 1 so that ``fix_gamma`` matters), plus two inputs and MXNet's 9 outputs for each;
* ``oneop/<op>_<draw>-*``: one checkpoint per (op, attribute draw) of ``oneop_cases.py``;
* ``legacy/*``: a small network saved in the pre-1.0 JSON layouts (``param``/``attr`` node keys,
  ``backward_source_id``, no ``mxnet_version``), which MXNet 1.x upgrades on load;
* with ``--r50-full DIR``: only the full-size R50 (insightface's widths), for benchmarks;
* ``manifest.json``: every case with its files, op, attributes and output names, and
  ``source_hash`` (sha256 of this folder's ``*.py``) so callers can tell a stale cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# the MXNet server lives in the package (it runs in .venv-mxnet, importing only mxnet/numpy)
sys.path.insert(0, str(HERE.parents[1] / "faceport" / "verify" / "references"))

# run as a script: Python puts this folder first on sys.path, so the siblings import directly
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
import oneop_cases  # noqa: E402
import r50_symbol  # noqa: E402
from mxnet_server import Runner, save_npz  # noqa: E402

SEED = 20240611


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(HERE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _rng(*key: object) -> np.random.RandomState:
    return np.random.RandomState((SEED + zlib.crc32(repr(key).encode())) % (2**32))


def random_params(
    sym: Any, shapes: dict[str, tuple[int, ...]], rng: np.random.RandomState
) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[int, ...]]]:
    """arg/aux params for every non-input variable; returns the label shapes separately."""
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    args: dict[str, Any] = {}
    labels: dict[str, tuple[int, ...]] = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in shapes:
            continue
        if name.endswith("_label"):
            labels[name] = tuple(shape)
            continue
        if name.endswith("_weight"):
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            value = rng.normal(0.0, np.sqrt(2.0 / max(fan_in, 1)), shape)
        elif name.endswith("_gamma") and "lrelu" in name:  # PReLU slopes
            value = rng.uniform(0.0, 0.5, shape)
        elif name.endswith("_gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        else:  # biases, betas
            value = rng.uniform(-0.5, 0.5, shape)
        args[name] = mx.nd.array(value.astype(np.float32))
    aux: dict[str, Any] = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        if name.endswith("_moving_var"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.uniform(-0.5, 0.5, shape)
        aux[name] = mx.nd.array(value.astype(np.float32))
    return args, aux, labels


def _attrs(sym: Any, op_node: str) -> dict[str, str]:
    nodes = json.loads(sym.tojson())["nodes"]
    for node in nodes:
        if node["name"] == op_node:
            return dict(node.get("attrs", {}))
    return {}


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.runner = Runner()
        self.cases: list[dict[str, Any]] = []

    def _run(self, symbol: Path, params: Path, inputs: Path, result: Path) -> list[str]:
        answer = self.runner.serve({"symbol": str(symbol), "params": str(params),
                                    "inputs": str(inputs), "result": str(result)})
        return list(answer["outputs"])

    def save(self, kind: str, name: str, sym: Any, args: dict[str, Any], aux: dict[str, Any],
             feeds: list[dict[str, np.ndarray]], *, op: str | None = None,
             alias: str | None = None, rewrite: Any = None, **extra: Any) -> dict[str, Any]:
        folder = self.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        prefix = folder / name
        mx.model.save_checkpoint(str(prefix), 0, sym, args, aux)
        symbol = Path(f"{prefix}-symbol.json")
        if alias is not None or rewrite is not None:
            data = json.loads(symbol.read_text())
            if alias is not None:
                for node in data["nodes"]:
                    if node["op"] == oneop_cases.ALIASES[alias]:
                        node["op"] = alias
            if rewrite is not None:
                data = rewrite(data)
            symbol.write_text(json.dumps(data, indent=2))
        params = Path(f"{prefix}-0000.params")
        runs = []
        for i, feed in enumerate(feeds):
            inputs = folder / f"{name}-input{i}.npz"
            expected = folder / f"{name}-expected{i}.npz"
            save_npz(str(inputs), feed)
            outputs = self._run(symbol, params, inputs, expected)
            runs.append({"inputs": inputs.name, "expected": expected.name, "outputs": outputs})
        case = {"kind": kind, "name": name, "op": op, "folder": kind, "symbol": symbol.name,
                "params": params.name, "runs": runs, **extra}
        self.cases.append(case)
        return case


def make_r50(writer: Writer) -> None:
    sym = r50_symbol.retinaface_r50()
    sizes = ((180, 244), (97, 131))
    rng = _rng("r50")
    args, aux, _ = random_params(sym, {"data": (1, 3) + sizes[0]}, rng)
    # bn_data sees raw 0..255 pixels: statistics of that scale, and gamma != 1 so that
    # ignoring fix_gamma=True (MXNet then uses gamma = 1) changes the result.
    aux["bn_data_moving_mean"] = mx.nd.array(rng.uniform(100, 140, (3,)).astype(np.float32))
    aux["bn_data_moving_var"] = mx.nd.array(rng.uniform(2500, 4500, (3,)).astype(np.float32))
    args["bn_data_gamma"] = mx.nd.array(rng.uniform(1.5, 2.5, (3,)).astype(np.float32))
    for name in list(args):
        if name.startswith("face_rpn_cls_score"):  # keep the softmax away from saturation
            args[name] = args[name] * 0.02
    feeds = [{"data": rng.uniform(0, 255, (1, 3, *s)).astype(np.float32)} for s in sizes]
    writer.save("r50", "retinaface_r50", sym, args, aux, feeds, op=None)


def make_r50_full(out: Path) -> Path:
    """The full-size R50 RetinaFace (insightface's widths, ``r50_symbol.FULL``) with random
    weights, symbol and params only (about 110 MB): the benchmark's R50. Returns the symbol."""
    sym = r50_symbol.retinaface_r50(**r50_symbol.FULL)
    rng = _rng("r50_full")
    args, aux, _ = random_params(sym, {"data": (1, 3, 480, 640)}, rng)
    for name in list(args):
        if name.startswith("face_rpn_cls_score"):
            args[name] = args[name] * 0.02
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / "retinaface_r50full"
    tmp_sym, tmp_params = Path(f"{prefix}-symbol.json.tmp"), Path(f"{prefix}-0000.params.tmp")
    sym.save(str(tmp_sym))
    saved = {f"arg:{k}": v for k, v in args.items()}
    saved.update({f"aux:{k}": v for k, v in aux.items()})
    mx.nd.save(str(tmp_params), saved)
    os.replace(tmp_params, f"{prefix}-0000.params")
    os.replace(tmp_sym, f"{prefix}-symbol.json")
    return Path(f"{prefix}-symbol.json")


def make_oneop(writer: Writer, only: set[str] | None) -> None:
    plan = [(op, op, draws) for op, (_, draws) in oneop_cases.GENERATORS.items()]
    plan += [(alias, canonical, 1) for alias, canonical in oneop_cases.ALIASES.items()]
    for op, canonical, draws in plan:
        if only and op not in only:
            continue
        gen = oneop_cases.GENERATORS[canonical][0]
        for draw in range(draws):
            rng = _rng("oneop", op, draw)
            sym, feed = gen(rng, draw)
            if len(sym.list_outputs()) > 1 and op not in oneop_cases.MULTI_OUTPUT:
                sym = sym[0]  # e.g. rrelu's mask: models use output 0 only
            shapes = {k: v.shape for k, v in feed.items()}
            args, aux, labels = random_params(sym, shapes, rng)
            feed = dict(feed)
            for label, shape in labels.items():
                feed[label] = np.zeros(shape, dtype=np.float32)
            node = [n for n in json.loads(sym.tojson())["nodes"] if n["op"] != "null"][-1]
            writer.save("oneop", f"{op}_{draw}", sym, args, aux, [feed], op=op,
                        alias=op if op in oneop_cases.ALIASES else None,
                        attrs=_attrs(sym, node["name"]), labels=sorted(labels))


def mxnet_op_names() -> list[str]:
    """Every operator name (aliases included) this MXNet build registers."""
    from mxnet.base import _LIB, check_call, ctypes, mx_uint, py_str

    size = mx_uint()
    names = ctypes.POINTER(ctypes.c_char_p)()
    check_call(_LIB.MXListAllOpNames(ctypes.byref(size), ctypes.byref(names)))
    return sorted(py_str(names[i]) for i in range(size.value))


def _legacy_v08(data: dict[str, Any]) -> dict[str, Any]:
    """MXNet 0.8 layout: op hyper-parameters under ``param``, ``backward_source_id``, no
    graph ``attrs`` (so no ``mxnet_version``)."""
    for node in data["nodes"]:
        node["param"] = node.pop("attrs", {})
        node["backward_source_id"] = -1
    data.pop("attrs", None)
    return data


def _legacy_v09(data: dict[str, Any]) -> dict[str, Any]:
    """MXNet 0.9-0.12 layout: attributes under ``attr``, version 0.9.5."""
    for node in data["nodes"]:
        node["attr"] = node.pop("attrs", {})
    data["attrs"] = {"mxnet_version": ["int", 905]}
    return data


def make_legacy(writer: Writer) -> None:
    data = mx.sym.Variable("data")
    body = mx.sym.Convolution(data, name="conv1", num_filter=6, kernel=(3, 3), pad=(1, 1))
    body = mx.sym.BatchNorm(body, name="bn1", fix_gamma=False, eps=1e-3)
    body = mx.sym.Activation(body, name="relu1", act_type="relu")
    body = mx.sym.Pooling(body, name="pool1", kernel=(2, 2), stride=(2, 2), pool_type="max")
    body = mx.sym.Flatten(body, name="flat")
    body = mx.sym.FullyConnected(body, name="fc1", num_hidden=5)
    sym = mx.sym.SoftmaxActivation(body, name="prob")
    rng = _rng("legacy")
    args, aux, _ = random_params(sym, {"data": (2, 3, 10, 12)}, rng)
    feeds = [{"data": rng.uniform(-1, 1, (2, 3, 10, 12)).astype(np.float32)}]
    for name, rewrite in (("legacy_v08", _legacy_v08), ("legacy_v09", _legacy_v09),
                          ("current", None)):
        writer.save("legacy", name, sym, args, aux, feeds, rewrite=rewrite)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/mxnet_fixtures", type=Path)
    parser.add_argument("--ops", nargs="*", help="only these one-op cases (default: all)")
    parser.add_argument("--r50-full", type=Path, metavar="DIR",
                        help="only write the full-size random-weight R50 into DIR")
    args = parser.parse_args(argv)
    if args.r50_full:
        print(f"wrote {make_r50_full(args.r50_full)}")
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    writer = Writer(out)
    make_r50(writer)
    make_oneop(writer, set(args.ops) if args.ops else None)
    make_legacy(writer)
    manifest = {"source_hash": source_hash(), "mxnet": mx.__version__, "seed": SEED,
                "mxnet_ops": mxnet_op_names(), "cases": writer.cases}
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "manifest.json")
    print(f"wrote {len(writer.cases)} cases to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
