"""Shared helpers for the dlib vocabulary tests: the dlib 20 cases written by
``tools/dlib_ref/extra/dlib20_vocab.cpp`` (``make dlib20-vocab``), read through both readers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.converters.dlib.dat_reader import read_dat
from faceport.converters.dlib.graph_builder import build_graph
from faceport.converters.dlib.xml_reader import read_xml
from faceport.ir import Graph

REPO = Path(__file__).resolve().parents[3]
GENERATOR = REPO / "tools" / "dlib_ref" / "extra" / "dlib20_vocab.cpp"
CASES_DIR = REPO / "build" / "dlib20_vocab" / "cases"


def case_names() -> list[str]:
    """Case names as the generator's source declares them: the first string literal of each
    ``run<...>(``, ``run_with<...>(``, ``structure_only<...>(`` and ``save(`` call."""
    text = GENERATOR.read_text(encoding="utf-8")
    pattern = r'\b(?:run|run_with|structure_only|save)\b(?:<[^;"]*?>)?\(\s*"([a-z0-9_]+)"'
    return sorted(set(re.findall(pattern, text)))


def cases_dir() -> Path:
    if not (CASES_DIR / ".done").is_file():
        pytest.skip("dlib 20 reference cases not built: run `make dlib20-vocab` "
                    "(needs a dlib 20.0 source tree, see mk/dlib20_vocab.mk)")
    return CASES_DIR


def graph_of(path: Path, **options: Any) -> Graph:
    if path.suffix == ".xml":
        layers, facts = read_xml(path)
    else:
        layers, facts = read_dat(path, **options)
    return build_graph(layers, file=path, sha256="0" * 64, extra_meta=facts)


def same_graph(a: Graph, b: Graph) -> str | None:
    """None when the graphs agree in structure and hold bit-identical params, else why not."""
    if not a.same_structure(b):
        mine, theirs = a.structure_json(), b.structure_json()
        for x, y in zip(mine["nodes"], theirs["nodes"]):
            x.pop("source")
            y.pop("source")
            if x != y:
                return f"first differing node: {x} != {y}"
        return "different node count or graph inputs/outputs"
    for key, value in a.params.items():
        if not np.array_equal(value, b.params[key]):
            return f"param {key} differs"
    return None


def run_graph(graph: Graph, feed: np.ndarray) -> np.ndarray:
    import torch

    from faceport.lower import lower

    module = lower(graph, [graph.outputs[0]])
    with torch.inference_mode():
        out: np.ndarray = module(torch.from_numpy(feed)).float().numpy()
    return out


def max_abs_error(out: np.ndarray, ref: np.ndarray) -> float:
    """Max |out - ref| over finite reference values; infinities must match exactly."""
    if out.shape != ref.shape and out.size == ref.size:
        out = out.reshape(ref.shape)  # dlib's (N, k, 1, 1) vs (N, k)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    finite = np.isfinite(ref)
    assert np.array_equal(out[~finite], ref[~finite]), "non-finite values differ"
    return float(np.abs(out[finite] - ref[finite]).max()) if finite.any() else 0.0
