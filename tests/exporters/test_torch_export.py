"""``.pt2`` (torch.export ExportedProgram): dynamic where a range valid for every probed size
exists (dlib MMOD, S3FD: H, W >= 64), refused with the failing guard where none does
(mnet.25), fixed sizes always; re-export byte-identical; the program gives the eager graph's
outputs and, for the detector, dlib's boxes."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from faceport.errors import ExportError
from tests.exporters.export_cases import graph_for, mmod_detections_via


def _load(path: Path) -> torch.nn.Module:
    return torch.export.load(io.BytesIO(path.read_bytes())).module()


def _eager(name: str, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from faceport.lower import lower

    with torch.no_grad():
        out = lower(graph_for(name))(x)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def test_dynamic_dlib_program_runs_at_every_size(tmp_path: Path) -> None:
    from faceport.exporters.torch_export import export_pt2

    first = export_pt2(graph_for("dlib"), tmp_path / "a.pt2")
    again = export_pt2(graph_for("dlib"), tmp_path / "b.pt2")
    assert first.dynamic and first.probes == 5, first
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first.path, again.path)]
    assert digest[0] == digest[1], "re-export is not byte-identical"
    with zipfile.ZipFile(first.path) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith("faceport.json"))
        meta = json.loads(archive.read(meta_name))
    assert meta["faceport.exporter"] == "torch.export" and meta["faceport.dynamic"] == "true"
    program = _load(first.path)
    for h, w in ((64, 64), (97, 131), (240, 320)):
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            got = program(x)
        got = tuple(got) if isinstance(got, (tuple, list)) else (got,)
        for a, b in zip(got, _eager("dlib", x)):
            assert a.shape == b.shape and float((a - b).abs().max()) <= 1e-5


def test_mnet_dynamic_is_refused_and_fixed_works(tmp_path: Path) -> None:
    from faceport.exporters.torch_export import export_pt2

    with pytest.raises(ExportError, match="--input-size WxH"):
        export_pt2(graph_for("mnet"), tmp_path / "dyn.pt2")
    assert not (tmp_path / "dyn.pt2").exists()
    fixed = export_pt2(graph_for("mnet"), tmp_path / "fixed.pt2", size=(120, 160))
    assert not fixed.dynamic
    x = torch.rand(1, 3, 120, 160, generator=torch.Generator().manual_seed(0))
    program = _load(fixed.path)
    with torch.no_grad():
        got = program(x)
    for a, b in zip(got, _eager("mnet", x)):
        assert float((a - b).abs().max()) <= 1e-5
    with pytest.raises(Exception, match=r"(?i)guard|shape|size"):
        program(torch.rand(1, 3, 96, 128))


def test_the_program_detects_dlibs_boxes() -> None:
    """The MMOD detector running its network on torch-export-cpu: the same rectangles."""
    want, got = mmod_detections_via("torch-export-cpu")
    assert len(want) >= 1
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


def test_backend_matches_eager_for_mnet_through_fixed_programs() -> None:
    from faceport.backends import make_runner

    graph = graph_for("mnet")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    with make_runner("torch-export-cpu", graph) as runner:
        got = runner.infer({graph.inputs[0].name: x})
    for key, want in zip(graph.outputs, _eager("mnet", torch.from_numpy(x))):
        assert float(np.abs(got[key] - want.numpy()).max()) <= 1e-5
