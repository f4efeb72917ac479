"""The parity matrix: one model, many images, every backend, one report.

For each image the family's preprocessing gives the graph feed; the *baseline* is the source
framework (``reference``) when it can run here, else faceport's torch CPU graph. Every other
backend's raw outputs are compared with it using the tolerance for that backend's dtype and
device; detections of faceport's pipeline are matched against the source framework's own
detector; with ``localise`` the first diverging layer is found (against the reference and/or
an ONNX export with every intermediate tensor as an output).

An image the model cannot take (too small for its pyramid or pooling) is recorded as a
skipped case with the reason; a backend that fails on an image is a failure.
"""

from __future__ import annotations

import datetime
import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceport import __version__
from faceport.backends import expand, make_runner
from faceport.backends.base import Runner
from faceport.detect.base import DetectOptions, Detector
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import ModelKind, info_of, kind_of
from faceport.kinds import detector as kind_detector
from faceport.verify.matrix_cases import detections_case, localise, run_case
from faceport.verify.references import reference_detector, reference_runner

log = logging.getLogger(__name__)
SCHEMA = "faceport.verify/2"


@dataclass
class VerifyOptions:
    backends: Sequence[str] = ("torch-cpu",)
    localise: bool = False
    #: ``reference`` (the source framework) and/or ``onnxruntime-cpu``
    localise_against: Sequence[str] = ("reference",)
    #: index (into the images) of the image localisation runs on
    localise_image: int = 0
    detections: bool = True
    min_iou: float = 0.99
    max_dscore: float = 1e-3
    detector_options: DetectOptions = field(default_factory=DetectOptions)


@dataclass
class VerifyResult:
    """The whole run as a JSON-ready dict plus the drawings for the HTML page."""

    report: dict[str, Any]
    pictures: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.report["summary"]["passed"])

    def __str__(self) -> str:
        return str(self.report["summary"]["text"])


def _runners(
    kind: ModelKind, graph: Graph, source: Path | None, backends: Sequence[str]
) -> tuple[dict[str, Runner], dict[str, str]]:
    runners: dict[str, Runner] = {}
    skipped: dict[str, str] = {}
    if source is None:
        skipped["reference"] = "no source model given (pass the original file to compare with)"
    else:
        ref, name = reference_runner(graph, source)
        if ref is None:
            skipped["reference"] = name
        elif (why := ref.why_unavailable()) is not None:
            skipped[ref.name] = why
        else:
            runners[ref.name] = ref
    for name in expand(backends):
        runner = make_runner(name, graph)
        why = runner.why_unavailable()
        if why is None:
            runners[name] = runner
        else:
            skipped[name] = why
    return runners, skipped


def _detectors(
    graph: Graph, source: Path | None, options: VerifyOptions
) -> tuple[Detector | None, Detector | None, str | None]:
    """(faceport's detector, the source framework's, why the latter is missing)."""
    detector = kind_detector(graph) if options.detections else None
    if detector is None or source is None:
        return detector, None, None
    ref, name = reference_detector(graph, source)
    if ref is None:
        return detector, None, name
    why = ref.why_unavailable()
    if why is not None:
        return detector, None, f"{name}: {why}"
    return detector, ref, None


def run_matrix(
    graph: Graph,
    source: Path | None,
    images: Sequence[tuple[str, np.ndarray]],
    options: VerifyOptions,
) -> VerifyResult:
    """Run every check; unavailable backends are listed with the reason, not failed."""
    kind = kind_of(graph)
    runners, skipped = _runners(kind, graph, source, options.backends)
    cases: list[dict[str, Any]] = []
    pictures: dict[str, np.ndarray] = {}
    detector, ref_detector, detections_note = _detectors(graph, source, options)
    active: list[Runner] = []
    try:
        for runner in runners.values():
            runner.__enter__()
            active.append(runner)
        for label, image in images:
            case = run_case(graph, label, image, active)
            if detector is not None and "skipped" not in case:
                try:
                    case["detections"] = detections_case(
                        detector, ref_detector, label, image, options, pictures
                    )
                except FaceportError as exc:
                    case["detections"] = {"error": str(exc)}
                if detections_note:
                    case["detections"]["reference_skipped"] = detections_note
            cases.append(case)
    finally:
        for runner in active:
            runner.__exit__(None, None, None)
        for held in (detector, ref_detector):
            if held is not None:
                held.close()
    report = {
        "schema": SCHEMA,
        "faceport_version": __version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "system": platform.platform(terse=True),
        },
        "model": _model_meta(graph) | {"family": info_of(graph).family, "kind": kind.name},
        "backends": {"ran": list(runners), "skipped": skipped},
        "cases": cases,
        "localisation": localise(graph, source, images, cases, options),
    }
    report["summary"] = summarise(report)
    return VerifyResult(report, pictures)


def _model_meta(graph: Graph) -> dict[str, Any]:
    """The source files: the first as ``file``/``sha256``, all as ``sources``."""
    files = [s.to_json() for s in info_of(graph).sources]
    meta: dict[str, Any] = dict(files[0]) if files else {}
    if len(files) > 1:
        meta["sources"] = files
    return meta


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Pass/fail and the worst numbers over all cases."""
    failures: list[str] = []
    worst_abs, worst_iou, skipped_cases = 0.0, 1.0, 0
    for case in report["cases"]:
        if "skipped" in case:
            skipped_cases += 1
            continue
        for name, error in case.get("errors", {}).items():
            failures.append(f"{case['image']}: {name} failed: {error.splitlines()[0]}")
        for comp in case["comparisons"]:
            for out in comp["outputs"]:
                worst_abs = max(worst_abs, float(out["max_abs"]))
            if not comp["passed"]:
                failures.append(f"{case['image']}: {comp['candidate']} vs {comp['reference']}")
        if "error" in case.get("detections", {}):
            failures.append(f"{case['image']}: detection failed: {case['detections']['error']}")
        det = case.get("detections", {}).get("compare")
        if det is not None:
            worst_iou = min(worst_iou, float(det["min_iou"]))
            if not det["passed"]:
                failures.append(f"{case['image']}: detections differ from the reference")
    for loc in report.get("localisation") or []:
        if loc.get("error"):
            failures.append(f"localisation vs {loc['against']} failed: {loc['error'][:200]}")
        if loc.get("first_divergence"):
            failures.append(
                f"layer {loc['first_divergence']} diverges first "
                f"({loc['candidate']} vs {loc['reference']})"
            )
    ran = len(report["cases"]) - skipped_cases
    text = (
        f"{'PASS' if not failures else 'FAIL'}: {ran} images ({skipped_cases} skipped), "
        f"backends {', '.join(report['backends']['ran']) or 'none'}; worst max-abs "
        f"{worst_abs:.3g}, worst detection IoU {worst_iou:.4f}"
    )
    if report["backends"]["skipped"]:
        text += "; skipped: " + "; ".join(
            f"{k} ({v})" for k, v in report["backends"]["skipped"].items()
        )
    if failures:
        text += "\n  " + "\n  ".join(failures)
    return {
        "passed": not failures,
        "failures": failures,
        "worst_max_abs": worst_abs,
        "worst_iou": worst_iou,
        "skipped_cases": skipped_cases,
        "text": text,
    }
