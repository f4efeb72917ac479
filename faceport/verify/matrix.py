"""The parity matrix: one model, many images, every backend, one report, one verdict.

For each image the model kind's feed gives the graph inputs; the *baseline* is the source
framework (``reference``) when it can run here, else faceport's torch CPU graph. Every other
backend's raw outputs are compared with it using the tolerance for that backend's dtype and
device; detections of faceport's pipeline are matched against the source framework's own
detector; with ``localise`` the first diverging layer is found (against the reference and/or
an ONNX export with every intermediate tensor as an output).

The verdict is earned (:func:`summarise`): ``fail`` (exit 1) when any comparison failed or
a faceport form failed on an image; else ``not verified`` (exit 2) unless every image the
model could take was compared with the source framework (its raw outputs or its detector)
on at least one output - a missing, failing or timed-out reference is "not verified" for that
image, never a parity failure; else ``pass`` (exit 0). An image the model cannot take (too
small for its pyramid or pooling) is recorded as a skipped case with the reason.
"""

from __future__ import annotations

import datetime
import logging
import platform
from collections.abc import Callable, Sequence
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
from faceport.kinds import detector as kind_detector
from faceport.kinds import info_of, kind_of
from faceport.verify.matrix_cases import detections_case, localise, run_case
from faceport.verify.references import reference_detector, reference_runner

log = logging.getLogger(__name__)
SCHEMA = "faceport.verify/3"
#: verdict -> process exit code
EXIT_CODES = {"pass": 0, "fail": 1, "not verified": 2}
Progress = Callable[[int, int, str, str], None]  # (index, count, image label, status)


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
    #: seconds one reference inference may take (``None``: the reference's own default)
    reference_timeout_s: float | None = None
    #: why there is no source model (shown when ``source`` is ``None``)
    source_note: str | None = None
    #: called after each image with (index, count, label, status)
    progress: Progress | None = None
    #: runners of shipped files (``faceport verify model.onnx``), compared like backends
    extra_runners: Sequence[Runner] = ()
    #: a detector to check instead of faceport's own (a shipped whole-detector file)
    detector: Detector | None = None
    #: whether the reference computes raw outputs (off for a whole-detector file: only its
    #: detections can be compared)
    raw_outputs: bool = True


@dataclass
class VerifyResult:
    """The whole run as a JSON-ready dict plus the drawings for the HTML page."""

    report: dict[str, Any]
    pictures: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.report["summary"]["passed"])

    @property
    def verdict(self) -> str:
        """``pass``, ``fail`` or ``not verified``."""
        return str(self.report["summary"]["verdict"])

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def __str__(self) -> str:
        return str(self.report["summary"]["text"])


def _runners(
    graph: Graph, source: Path | None, options: VerifyOptions
) -> tuple[dict[str, Runner], dict[str, str], str | None]:
    """(runners, skipped backends with reasons, the reference runner's name if it runs)."""
    runners: dict[str, Runner] = {}
    skipped: dict[str, str] = {}
    reference = None
    if source is None:
        skipped["reference"] = options.source_note or (
            "no source model given (pass the original file to compare with)"
        )
    elif options.raw_outputs:
        ref, name = reference_runner(graph, source, timeout=options.reference_timeout_s)
        if ref is None:
            skipped["reference"] = name
        elif (why := ref.why_unavailable()) is not None:
            skipped[ref.name] = why
        else:
            runners[ref.name] = ref
            reference = ref.name
    for name in expand(options.backends):
        runner = make_runner(name, graph)
        why = runner.why_unavailable()
        if why is None:
            runners[name] = runner
        else:
            skipped[name] = why
    for extra in options.extra_runners:
        why = extra.why_unavailable()
        if why is None:
            runners[extra.name] = extra
        else:
            skipped[extra.name] = why
    return runners, skipped, reference


def _detectors(
    graph: Graph, source: Path | None, options: VerifyOptions
) -> tuple[Detector | None, Detector | None, str | None]:
    """(faceport's detector, the source framework's, why the latter is missing)."""
    detector = options.detector or (kind_detector(graph) if options.detections else None)
    if detector is not None:
        detector.check(options.detector_options)  # a refused option is bad input, up front
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
    runners, skipped, reference = _runners(graph, source, options)
    cases: list[dict[str, Any]] = []
    pictures: dict[str, np.ndarray] = {}
    detector, ref_detector, detections_note = _detectors(graph, source, options)
    active: list[Runner] = []
    try:
        for runner in runners.values():
            runner.__enter__()
            active.append(runner)
        for index, (label, image) in enumerate(images):
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
            if options.progress is not None:
                options.progress(index, len(images), label, case_status(case, reference))
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
        "backends": {
            "ran": list(runners),
            "skipped": skipped,
            "reference": reference,
            "notes": _notes(runners, reference, options),
        },
        "cases": cases,
        "localisation": localise(graph, source, images, cases, options),
    }
    report["summary"] = summarise(report)
    return VerifyResult(report, pictures)


def _notes(runners: dict[str, Runner], reference: str | None, options: VerifyOptions) -> list[str]:
    notes = []
    ref = runners.get(reference or "")
    timed = options.reference_timeout_s is not None and ref is not None
    if timed and not getattr(ref, "timeout_enforced", True):
        notes.append(f"{reference} runs in this process: --reference-timeout is not enforced")
    return notes


def _model_meta(graph: Graph) -> dict[str, Any]:
    """The source files: the first as ``file``/``sha256``, all as ``sources``."""
    files = [s.to_json() for s in info_of(graph).sources]
    meta: dict[str, Any] = dict(files[0]) if files else {}
    if len(files) > 1:
        meta["sources"] = files
    return meta


def case_status(case: dict[str, Any], reference: str | None) -> str:
    """``pass``, ``fail``, ``not verified`` or ``skipped`` for one image (see the module doc)."""
    if "skipped" in case:
        return "skipped"
    failures, unverified = case_findings(case, reference)
    if failures:
        return "fail"
    return "not verified" if unverified else "pass"


def case_findings(case: dict[str, Any], reference: str | None) -> tuple[list[str], list[str]]:
    """(parity failures, reasons the image is not verified) of one image."""
    image = case["image"]
    failures: list[str] = []
    unverified: list[str] = []
    checked = 0
    for name, error in case.get("errors", {}).items():
        line = error.splitlines()[0] if error else "failed"
        if name == reference:
            unverified.append(f"{image}: the reference {name} failed: {line}")
        else:
            failures.append(f"{image}: {name} failed: {line}")
    for comp in case["comparisons"]:
        if not comp["passed"]:
            failures.append(f"{image}: {comp['candidate']} vs {comp['reference']}")
        elif comp["reference"] == reference and comp["outputs"]:
            checked += 1
    det = case.get("detections", {})
    if "error" in det:
        failures.append(f"{image}: detection failed: {det['error']}")
    if "reference_error" in det:
        unverified.append(f"{image}: the source framework's detector failed: "
                          f"{det['reference_error'].splitlines()[0]}")  # fmt: skip
    if det.get("compare") is not None:
        if det["compare"]["passed"]:
            checked += 1
        else:
            failures.append(f"{image}: detections differ from the reference")
    if not checked and not failures and not unverified:
        unverified.append(f"{image}: nothing was compared with the source framework")
    return failures, unverified


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The verdict (see the module doc) and the worst numbers over all cases."""
    reference = report["backends"].get("reference")
    failures: list[str] = []
    unverified: list[str] = []
    worst_abs, worst_iou, skipped_cases = 0.0, 1.0, 0
    for case in report["cases"]:
        if "skipped" in case:
            skipped_cases += 1
            continue
        found, missing = case_findings(case, reference)
        failures += found
        unverified += missing
        for comp in case["comparisons"]:
            for out in comp["outputs"]:
                worst_abs = max(worst_abs, float(out["max_abs"]))
        det = case.get("detections", {}).get("compare")
        if det is not None:
            worst_iou = min(worst_iou, float(det["min_iou"]))
    for loc in report.get("localisation") or []:
        if loc.get("error"):
            failures.append(f"localisation vs {loc['against']} failed: {loc['error'][:200]}")
        if loc.get("first_divergence"):
            failures.append(
                f"layer {loc['first_divergence']} diverges first "
                f"({loc['candidate']} vs {loc['reference']})"
            )
    ran = len(report["cases"]) - skipped_cases
    if failures:
        verdict = "fail"
    elif ran == 0 or unverified:
        verdict = "not verified"
    else:
        verdict = "pass"
    text = (
        f"{verdict.upper()}: {ran} images ({skipped_cases} skipped), "
        f"backends {', '.join(report['backends']['ran']) or 'none'}; worst max-abs "
        f"{worst_abs:.3g}"
    )
    if any("compare" in c.get("detections", {}) for c in report["cases"]):
        text += f", worst detection IoU {worst_iou:.4f}"
    if report["backends"]["skipped"]:
        text += "; skipped: " + "; ".join(
            f"{k} ({v})" for k, v in report["backends"]["skipped"].items()
        )
    reasons = _not_verified_reasons(report, ran, unverified) if verdict == "not verified" else []
    if failures or reasons:
        text += "\n  " + "\n  ".join(failures + reasons)
    return {
        "verdict": verdict,
        "passed": verdict == "pass",
        "failures": failures,
        "not_verified": reasons,
        "worst_max_abs": worst_abs,
        "worst_iou": worst_iou,
        "skipped_cases": skipped_cases,
        "text": text,
    }


def _not_verified_reasons(report: dict[str, Any], ran: int, unverified: list[str]) -> list[str]:
    """Sentences saying what was not compared, and why."""
    if ran == 0:
        return ["no image could be run through the model (every input was skipped)"]
    reference = report["backends"].get("reference")
    every = len(unverified) == ran and all(u.endswith("nothing was compared with the source "
                                                      "framework") for u in unverified)  # fmt: skip
    if not every:
        return unverified
    why = [f"{k}: {v}" for k, v in report["backends"]["skipped"].items()
           if k not in expand(["all"])]  # fmt: skip
    notes = {c["detections"]["reference_skipped"] for c in report["cases"]
             if "reference_skipped" in c.get("detections", {})}  # fmt: skip
    said = f" ({'; '.join([*why, *sorted(notes)])})" if why or notes else ""
    if reference is None:
        return [f"nothing was compared with the source framework{said}"]
    return [f"no output of the source framework ({reference}) was compared{said}"]
