"""Reports: the tolerance doc is current, JSON is stable, HTML is self-contained and renders
in headless Chromium, a baseline catches regressions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from faceport.verify.baseline import compare_to_baseline
from faceport.verify.tolerance_doc import render
from tests.conftest import REPO
from tests.verify.matrix_cases import cli_run, s3fd_source, two_photo_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_tolerance_doc_is_current() -> None:
    doc = REPO / "docs" / "tolerances.md"
    assert doc.read_text() == render(), (
        "docs/tolerances.md is stale: python -m faceport.verify.tolerance_doc > docs/tolerances.md"
    )


def s3fd_report() -> tuple[dict[str, Any], Path]:
    if not two_photo_dir().exists():
        pytest.skip("dlib example photos absent")
    code, out_dir, stdout = cli_run(str(s3fd_source()))
    assert code == 0, stdout
    return json.loads((out_dir / "report.json").read_text()), out_dir


def test_json_schema_fields() -> None:
    report, _ = s3fd_report()
    assert report["schema"] == "faceport.verify/3"
    assert report["summary"]["verdict"] == "pass" and report["backends"]["reference"]
    assert set(report) >= {
        "schema",
        "faceport_version",
        "date",
        "host",
        "model",
        "backends",
        "cases",
        "localisation",
        "summary",
    }
    out = report["cases"][0]["comparisons"][0]["outputs"][0]
    assert set(out) >= {
        "name",
        "shape",
        "max_abs",
        "max_rel",
        "mean_abs",
        "p50_abs",
        "p99_abs",
        "mismatches",
        "total",
        "worst_index",
        "tolerance",
        "passed",
    }
    det = report["cases"][0]["detections"]["compare"]
    assert set(det) >= {"min_iou", "mean_iou", "max_dscore", "recall", "precision", "matched"}


def test_html_is_self_contained() -> None:
    _, out_dir = s3fd_report()
    page = (out_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<svg" in page and "data:image/png;base64," in page


def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (make chromium)")
    _, out_dir = s3fd_report()
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    url = (out_dir / "report.html").as_uri()
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", url],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert shot.is_file(), done.stderr[-2000:]
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    # text and plots on a white page, not a blank render
    assert int(pixels.max()) - int(pixels.min()) > 100
    assert (pixels < 128).mean() > 0.005
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=180, check=False
    ).stdout
    assert 'faceport verify: <span class="pass">PASS</span>' in dom
    assert dom.count("<svg") >= 2 and dom.count("<img") == 2


def test_baseline_flags_worse_metrics_only() -> None:
    report, _ = s3fd_report()
    assert compare_to_baseline(report, report) == []
    better = json.loads(json.dumps(report))
    case = better["cases"][0]
    outputs = [o for comp in case["comparisons"] for o in comp["outputs"]]
    biggest = max(outputs, key=lambda o: o["max_abs"])
    assert biggest["max_abs"] > 1e-6  # onnxruntime's summation order differs from torch's
    biggest["max_abs"] = 0.0
    case["detections"]["compare"]["matched"] += 1
    worse = compare_to_baseline(report, better)
    name = biggest["name"]
    assert any(f"{name}: max_abs" in w for w in worse)
    assert any("matched detections" in w for w in worse)
    assert compare_to_baseline(better, report) == []
