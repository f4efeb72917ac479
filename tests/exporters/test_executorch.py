"""``.pte`` (ExecuTorch, XNNPACK delegate): every family's network at a fixed size matches
the eager graph in the ExecuTorch runtime, the MMOD detector on it gives dlib's rectangles,
re-export is byte-identical, and a dynamic .pte is refused (a program plans one size)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceport.errors import ExportError
from tests.exporters.export_cases import FAMILIES, graph_for, mmod_detections_via

pytest.importorskip("executorch.runtime", reason="ExecuTorch not installed (make test installs "
                    "it into build/executorch: mk/executorch.mk)")  # fmt: skip


@pytest.mark.parametrize("name", FAMILIES)
def test_pte_matches_the_eager_graph(name: str, tmp_path: Path) -> None:
    from faceport.exporters.executorch import export_pte, load_method
    from faceport.lower import lower

    graph = graph_for(name)
    first = export_pte(graph, tmp_path / "a.pte", size=(120, 160))
    again = export_pte(graph, tmp_path / "b.pte", size=(120, 160))
    assert first.delegated >= 1, "nothing was delegated to XNNPACK"
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (first.path, again.path)}
    assert len(digests) == 1, "re-export is not byte-identical"
    meta = json.loads(Path(f"{first.path}.json").read_text())
    assert meta["faceport.exporter"].startswith("torch.export + ExecuTorch")
    x = torch.rand(1, 3, 120, 160, generator=torch.Generator().manual_seed(2)) * 2 - 1
    got = load_method(first.path.read_bytes()).execute([x])
    with torch.no_grad():
        want = lower(graph)(x)
    want = tuple(want) if isinstance(want, (tuple, list)) else (want,)
    errors = [float((a - b).abs().max()) for a, b in zip(got, want)]
    print(f"{name}: {first}; max-abs vs eager {max(errors):.2e}")
    assert len(got) == len(want) and max(errors) <= 1e-4


def test_a_dynamic_pte_is_refused(tmp_path: Path) -> None:
    from faceport.exporters.executorch import export_pte

    with pytest.raises(ExportError, match="--input-size WxH"):
        export_pte(graph_for("dlib"), tmp_path / "x.pte", size=None)
    assert not (tmp_path / "x.pte").exists()


def test_the_detector_on_executorch_gives_dlibs_boxes() -> None:
    """The MMOD detector running its network on executorch-xnnpack-cpu: the same rectangles."""
    want, got = mmod_detections_via("executorch-xnnpack-cpu")
    assert len(want) >= 1
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
