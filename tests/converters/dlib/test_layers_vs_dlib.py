"""Every dlib layer type against dlib itself: one-layer cases made by ``dlib_ref layers``.

For each case the C++ tool (libdlib-dev 19.24) wrote ``case_<name>.dat`` (``serialize``),
``case_<name>.xml`` (``net_to_xml``), the input tensor and dlib's output. faceport reads the
XML and the .dat, lowers the graph and must reproduce dlib's output within 1e-4 x max|ref|.
The case list is read from the tool's sources, so a case added there is tested here.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceport.tolerance import Tolerance
from faceport.verify.compare import compare_arrays
from faceport.verify.references.dlib_cpp import make_layer_cases, why_no_binary

pytestmark = pytest.mark.reference

TOOL_SOURCES = Path(__file__).resolve().parents[3] / "tools" / "dlib_ref"
TOLERANCE = Tolerance(atol=1e-4, rtol=0.0, relative_to_scale=True)


def case_names() -> list[str]:
    """Case names as written in tools/dlib_ref/cases_*.cpp (``{"name", ...}`` specs)."""
    names: list[str] = []
    for source in sorted(TOOL_SOURCES.glob("cases_*.cpp")):
        for line in source.read_text().splitlines():
            # the first string literal of a case_spec brace list, or of wide_spec("...")
            match = re.search(r'(?:\{|wide_spec\(|case_spec \w+\{)"([a-z0-9_]+)"', line)
            if match:
                names.append(match.group(1))
    return names


CASES = case_names()


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    reason = why_no_binary()
    if reason is not None:
        pytest.skip(reason)
    outdir = tmp_path_factory.mktemp("dlib_layer_cases")
    index = make_layer_cases(outdir, timeout=300)
    return outdir, {case["name"]: case for case in index["cases"]}


def _family() -> Any:
    if importlib.util.find_spec("faceport.converters.dlib.family") is None:
        pytest.skip("faceport.converters.dlib.family does not exist yet")
    from faceport.converters.dlib.family import FAMILY

    return FAMILY


def run_faceport(path: Path, feed: np.ndarray) -> np.ndarray:
    """faceport's output for the graph read from ``path`` (the graph's first output)."""
    import torch

    from faceport.lower import lower

    graph = _family().convert(path)
    module = lower(graph, [graph.outputs[0]])
    with torch.inference_mode():
        out = module(torch.from_numpy(feed))
    result: np.ndarray = out.float().numpy()
    return result


def _expected_refusal(case: dict[str, Any], source: str) -> str | None:
    """What faceport must refuse, because the file does not hold what running needs."""
    if source == "xml" and {"bn_con", "bn_fc"} & set(case["layers"]):
        return "running statistics"  # dlib's bn_ to_xml writes gamma/beta only
    if source == "dat" and "concat" in case["layers"]:
        return "tag ids are not stored"  # concat_'s serialize writes the tag count only
    return None


def test_case_list_matches_tool(cases_dir: tuple[Path, dict[str, Any]]) -> None:
    """The tool wrote exactly the cases its sources declare, each with its four files."""
    outdir, index = cases_dir
    assert sorted(index) == sorted(CASES)
    for name, case in index.items():
        for key in ("dat", "xml", "input", "output"):
            assert (outdir / case[key]).stat().st_size > 0, f"{name}: {key} file empty"
        assert np.isfinite(np.load(outdir / case["output"])).all(), name


@pytest.mark.parametrize("source", ["xml", "dat"])
@pytest.mark.parametrize("name", CASES)
def test_layer_matches_dlib(cases_dir: tuple[Path, dict[str, Any]], name: str, source: str) -> None:
    outdir, index = cases_dir
    case = index[name]
    feed = np.load(outdir / case["input"])
    ref = np.load(outdir / case["output"])
    refusal = _expected_refusal(case, source)
    if refusal is not None:
        from faceport.errors import FormatError

        with pytest.raises(FormatError, match=refusal):
            run_faceport(outdir / case[source], feed)
        return
    out = run_faceport(outdir / case[source], feed)
    if out.shape != ref.shape and out.size == ref.size:
        # dlib's (N, k, 1, 1) fc output and an (N, k) one hold the same values
        out = out.reshape(ref.shape)
    result = compare_arrays(f"{name}[{source}]", ref, out, TOLERANCE)
    assert result, f"{result} (layers {case['layers']}; {case['note']})"
