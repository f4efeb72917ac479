"""The parity matrix: one model, many images, every backend, one report.

For each image the family's preprocessing gives the graph feed; the *baseline* is the source
framework (``reference``) when it can run here, else faceport's torch CPU graph. Every other
backend's raw outputs are compared with it using the tolerance for that backend's dtype and
device; detections of faceport's pipeline are matched against the source framework's own
detector; with ``localise`` the first diverging layer is found.
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
from faceport.errors import BackendUnavailable
from faceport.ir import Graph
from faceport.verify.backends import expand, make_runner
from faceport.verify.compare import compare_detections, compare_outputs
from faceport.verify.localise import localise, tap_names
from faceport.verify.runners.base import Runner
from faceport.verify.tolerance import tolerance_for

log = logging.getLogger(__name__)
SCHEMA = "faceport.verify/1"


@dataclass
class VerifyOptions:
    backends: Sequence[str] = ("torch-cpu",)
    localise: bool = False
    detections: bool = True
    min_iou: float = 0.99
    max_dscore: float = 1e-3
    detector_options: dict[str, Any] = field(default_factory=dict)


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


def run_matrix(
    graph: Graph,
    source: Path | None,
    images: Sequence[tuple[str, np.ndarray]],
    options: VerifyOptions,
) -> VerifyResult:
    """Run every check; unavailable backends are listed with the reason, not failed."""
    from faceport.converters import family as family_named
    from faceport.detect.draw import draw_detections

    fam = family_named(str(graph.meta.get("family", graph.framework)))
    runners: dict[str, Runner] = {}
    skipped: dict[str, str] = {}
    if source is not None:
        ref = fam.reference_runner(graph, source)
        if ref is None:
            skipped["reference"] = f"{fam.name}: no reference runner for raw outputs"
        elif (why := ref.why_unavailable()) is not None:
            skipped[ref.name] = why
        else:
            runners[ref.name] = ref
    else:
        skipped["reference"] = "no source model given (pass the original file to compare with)"
    for name in expand(options.backends):
        runner = make_runner(name, graph)
        why = runner.why_unavailable()
        if why is None:
            runners[name] = runner
        else:
            skipped[name] = why
    cases: list[dict[str, Any]] = []
    pictures: dict[str, np.ndarray] = {}
    active = list(runners.values())
    for runner in active:
        runner.__enter__()
    try:
        detector = fam.detector(graph) if options.detections else None
        ref_detector = fam.reference_detector(source) if detector and source else None
        for label, image in images:
            case = _run_case(fam, graph, label, image, active, options)
            if detector is not None:
                dets = detector(image, **options.detector_options)
                case["detections"] = {"faceport": dets.to_json()}
                if ref_detector is not None:
                    ref_dets = ref_detector(image, **options.detector_options)
                    cmp = compare_detections(
                        ref_dets.boxes, ref_dets.scores, dets.boxes, dets.scores,
                        ref_landmarks=ref_dets.landmarks, out_landmarks=dets.landmarks,
                        min_iou=options.min_iou, max_dscore=options.max_dscore,
                    )
                    case["detections"]["reference"] = ref_dets.to_json()
                    case["detections"]["compare"] = cmp.to_json()
                    case["detections"]["text"] = str(cmp)
                    pictures[label] = draw_detections(image, dets, reference=ref_dets)
                else:
                    pictures[label] = draw_detections(image, dets)
            cases.append(case)
    finally:
        for runner in active:
            runner.__exit__(None, None, None)
    layers = None
    if options.localise and source is not None and images:
        layers = _localise(fam, graph, source, images[0][1])
    report = {
        "schema": SCHEMA,
        "faceport_version": __version__,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {"machine": platform.machine(), "python": platform.python_version()},
        "model": dict(graph.meta.get("source", {})) | {"family": fam.name},
        "backends": {"ran": list(runners), "skipped": skipped},
        "cases": cases,
        "localisation": layers,
    }
    report["summary"] = summarise(report)
    return VerifyResult(report, pictures)


def _run_case(
    fam: Any,
    graph: Graph,
    label: str,
    image: np.ndarray,
    runners: list[Runner],
    options: VerifyOptions,
) -> dict[str, Any]:
    feed = dict(fam.preprocess(graph, image))
    feed["@image"] = image
    outputs = {r.name: r.infer(feed) for r in runners}
    baseline = runners[0].name if runners else None
    comparisons = []
    for runner in runners[1:]:
        tol = tolerance_for(runner.dtype, runner.device)
        result = compare_outputs(baseline or "", outputs[baseline or ""], runner.name,
                                 outputs[runner.name], tol)
        comparisons.append(
            {
                "reference": result.reference,
                "candidate": result.candidate,
                "passed": bool(result),
                "missing": list(result.missing),
                "outputs": [o.to_json() for o in result.outputs],
                "histograms": {
                    name: _histogram(outputs[baseline or ""][name], outputs[runner.name][name])
                    for name in outputs[runner.name]
                    if name in outputs[baseline or ""]
                },
                "text": str(result),
            }
        )
    return {
        "image": label,
        "size": [int(image.shape[0]), int(image.shape[1])],
        "baseline": baseline,
        "comparisons": comparisons,
    }


def _histogram(ref: np.ndarray, out: np.ndarray) -> dict[str, list[float]]:
    """Counts of log10 |error| in bins from 1e-12 to 1e2 (exact zeros in the first bin)."""
    if np.shape(ref) != np.shape(out):
        return {"edges": [], "counts": []}
    diff = np.abs(np.asarray(out, np.float64) - np.asarray(ref, np.float64)).ravel()
    logs = np.log10(np.maximum(diff, 1e-12))
    edges = np.arange(-12.0, 2.5, 1.0)
    counts, _ = np.histogram(np.clip(logs, -12, 2), bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def _localise(fam: Any, graph: Graph, source: Path, image: np.ndarray) -> dict[str, Any] | None:
    names = tap_names(graph)
    ref = fam.reference_runner(graph, source, taps=names)
    if ref is None or ref.why_unavailable() is not None:
        return {"skipped": "the reference runner cannot tap layers here"}
    feed = dict(fam.preprocess(graph, image))
    feed["@image"] = image
    try:
        with ref:
            ref_out = ref.infer(feed)
        with make_runner("torch-cpu", graph, outputs=names) as mine:
            my_out = mine.infer(feed)
    except BackendUnavailable as exc:
        return {"skipped": str(exc)}
    result = localise(graph, ref_out, my_out, reference_name=ref.name, candidate_name="torch-cpu")
    return result.to_json() | {"text": str(result)}


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Pass/fail and the worst numbers over all cases."""
    failures: list[str] = []
    worst_abs = 0.0
    worst_iou = 1.0
    for case in report["cases"]:
        for comp in case["comparisons"]:
            for out in comp["outputs"]:
                worst_abs = max(worst_abs, float(out["max_abs"]))
            if not comp["passed"]:
                failures.append(f"{case['image']}: {comp['candidate']} vs {comp['reference']}")
        det = case.get("detections", {}).get("compare")
        if det is not None:
            worst_iou = min(worst_iou, float(det["min_iou"]))
            if not det["passed"]:
                failures.append(f"{case['image']}: detections")
    loc = report.get("localisation") or {}
    if loc.get("first_divergence"):
        failures.append(f"layer {loc['first_divergence']} diverges first")
    text = (
        f"{'PASS' if not failures else 'FAIL'}: {len(report['cases'])} images, backends "
        f"{', '.join(report['backends']['ran']) or 'none'}; worst max-abs {worst_abs:.3g}, "
        f"worst detection IoU {worst_iou:.4f}"
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
        "text": text,
    }
