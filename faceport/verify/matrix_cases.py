"""One image's checks for :func:`faceport.verify.matrix.run_matrix`: raw outputs of every
backend against the baseline, detections against the source framework's detector, and
first-divergence localisation on one chosen image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceport.backends.base import Runner
from faceport.detect.base import Detector
from faceport.errors import FaceportError
from faceport.ir import Graph
from faceport.kinds import feed as kind_feed
from faceport.tolerance import tolerance_for
from faceport.verify.compare import compare_detections, compare_outputs
from faceport.verify.layer_taps import run_localisation

if TYPE_CHECKING:
    from faceport.verify.matrix import VerifyOptions


def run_case(
    graph: Graph, label: str, image: np.ndarray, runners: list[Runner]
) -> dict[str, Any]:
    """One image through every runner; each later runner's outputs compared with the first
    that ran (the baseline); an image the model cannot take is a skipped case."""
    case: dict[str, Any] = {
        "image": label,
        "size": [int(image.shape[0]), int(image.shape[1])],
        "comparisons": [],
    }
    try:
        feed = dict(kind_feed(graph, image))
    except FaceportError as exc:
        case["skipped"] = f"the model cannot take this image: {exc}"
        return case
    feed["@image"] = image
    outputs: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}
    for runner in runners:
        start = time.perf_counter()
        try:
            outputs[runner.name] = runner.infer(feed)
        except FaceportError as exc:
            errors[runner.name] = str(exc)
        seconds[runner.name] = round(time.perf_counter() - start, 4)
    ran = [r for r in runners if r.name in outputs]
    baseline = ran[0].name if ran else None
    case.update(baseline=baseline, seconds=seconds, errors=errors)
    for runner in ran[1:]:
        assert baseline is not None
        tol = tolerance_for(runner.dtype, runner.device)
        ref, out = outputs[baseline], outputs[runner.name]
        result = compare_outputs(baseline, ref, runner.name, out, tol)
        case["comparisons"].append(
            {
                "reference": result.reference,
                "candidate": result.candidate,
                "passed": bool(result),
                "missing": list(result.missing),
                "outputs": [o.to_json() for o in result.outputs],
                "histograms": {n: histogram(ref[n], out[n]) for n in out if n in ref},
                "text": str(result),
            }
        )
    return case


def detections_case(
    detector: Detector,
    ref_detector: Detector | None,
    label: str,
    image: np.ndarray,
    options: VerifyOptions,
    pictures: dict[str, np.ndarray],
) -> dict[str, Any]:
    """faceport's detections on ``image``, matched against ``ref_detector``'s when there is
    one; the drawn picture goes into ``pictures[label]``."""
    from faceport.detect.draw import draw_detections

    dets = detector(image, options.detector_options)
    result: dict[str, Any] = {"faceport": dets.to_json()}
    if ref_detector is None:
        pictures[label] = draw_detections(image, dets)
        return result
    try:
        ref_dets = ref_detector(image, options.detector_options)
    except FaceportError as exc:  # the source framework failing is "not verified" here
        pictures[label] = draw_detections(image, dets)
        result["reference_error"] = str(exc)
        return result
    cmp = compare_detections(
        ref_dets.boxes,
        ref_dets.scores,
        dets.boxes,
        dets.scores,
        ref_landmarks=ref_dets.landmarks,
        out_landmarks=dets.landmarks,
        min_iou=options.min_iou,
        max_dscore=options.max_dscore,
    )
    result.update(reference=ref_dets.to_json(), compare=cmp.to_json(), text=str(cmp))
    pictures[label] = draw_detections(image, dets, reference=ref_dets)
    return result


def histogram(ref: np.ndarray, out: np.ndarray) -> dict[str, list[float]]:
    """Counts of log10 |error| in bins from 1e-12 to 1e2 (exact zeros in the first bin)."""
    if np.shape(ref) != np.shape(out):
        return {"edges": [], "counts": []}
    diff = np.abs(np.asarray(out, np.float64) - np.asarray(ref, np.float64)).ravel()
    logs = np.log10(np.maximum(diff, 1e-12))
    edges = np.arange(-12.0, 2.5, 1.0)
    counts, _ = np.histogram(np.clip(logs, -12, 2), bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def localise(
    graph: Graph,
    source: Path | None,
    images: Sequence[tuple[str, np.ndarray]],
    cases: list[dict[str, Any]],
    options: VerifyOptions,
) -> list[dict[str, Any]]:
    """Localisation entries on the chosen image (the first one the model can take)."""
    if not options.localise or not images:
        return []
    usable = [i for i, c in enumerate(cases) if "skipped" not in c]
    if not usable:
        return [
            {"against": a, "skipped": "no image the model can take"}
            for a in options.localise_against
        ]
    index = options.localise_image if options.localise_image in usable else usable[0]
    label, image = images[index]
    feed = dict(kind_feed(graph, image))
    feed["@image"] = image
    entries = []
    for against in options.localise_against:
        entry = run_localisation(graph, source, feed, against)
        entries.append({"image": label, **entry})
    return entries
