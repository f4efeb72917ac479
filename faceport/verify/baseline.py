"""Regression against a previous report: every metric that got worse.

Cases are matched by image label, comparisons by (reference, candidate), outputs by name,
localisation entries by what they were against. Errors may wobble a little between runs
(thread scheduling changes summation order), so an error regresses only when it exceeds
``slack`` x the baseline's plus ``floor``; anything that passed before and fails now, any
lost detection match and any new first-divergent layer is a regression outright.
"""

from __future__ import annotations

from typing import Any

#: per-output error metrics compared with slack (bigger is worse)
ERROR_METRICS = ("max_abs", "max_rel", "mean_abs", "p99_abs")
IOU_DROP = 1e-4


def _worse(new: float, old: float, slack: float, floor: float) -> bool:
    return float(new) > slack * float(old) + floor


def _outputs(
    label: str, comp: dict[str, Any], prev: dict[str, Any], slack: float, floor: float
) -> list[str]:
    worse: list[str] = []
    where = f"{label} {comp['candidate']} vs {comp['reference']}"
    if prev.get("passed") and not comp.get("passed"):
        worse.append(f"{where}: passed in the baseline, fails now")
    prev_out = {o["name"]: o for o in prev.get("outputs", [])}
    for out in comp.get("outputs", []):
        was = prev_out.get(out["name"])
        if was is None:
            continue
        for metric in ERROR_METRICS:
            if metric in out and metric in was and _worse(out[metric], was[metric], slack, floor):
                worse.append(
                    f"{where} {out['name']}: {metric} {out[metric]:.3g} > baseline "
                    f"{was[metric]:.3g}"
                )
        if out.get("mismatches", 0) > was.get("mismatches", 0):
            worse.append(
                f"{where} {out['name']}: mismatches {out['mismatches']} > baseline "
                f"{was['mismatches']}"
            )
    return worse


def _detections(label: str, new: dict[str, Any], old: dict[str, Any], floor: float) -> list[str]:
    worse: list[str] = []
    if old.get("passed") and not new.get("passed"):
        worse.append(f"{label}: detections passed in the baseline, fail now")
    if new["matched"] < old["matched"]:
        worse.append(f"{label}: matched detections {new['matched']} < baseline {old['matched']}")
    if new["min_iou"] < old["min_iou"] - IOU_DROP:
        worse.append(f"{label}: min IoU {new['min_iou']:.4f} < baseline {old['min_iou']:.4f}")
    if new["max_dscore"] > old["max_dscore"] + floor * 1e3:
        worse.append(
            f"{label}: max |dscore| {new['max_dscore']:.3g} > baseline {old['max_dscore']:.3g}"
        )
    new_lm, old_lm = new.get("max_landmark_px"), old.get("max_landmark_px")
    if new_lm is not None and old_lm is not None and new_lm > old_lm + 1e-3:
        worse.append(f"{label}: landmark error {new_lm:.3g}px > baseline {old_lm:.3g}px")
    return worse


def compare_to_baseline(
    report: dict[str, Any], baseline: dict[str, Any], *, slack: float = 1.5, floor: float = 1e-7
) -> list[str]:
    """Metrics of ``report`` that got worse than in ``baseline`` (empty: no regression)."""
    worse: list[str] = []
    old_cases = {c["image"]: c for c in baseline.get("cases", [])}
    for case in report.get("cases", []):
        old = old_cases.get(case["image"])
        if old is None:
            continue
        label = case["image"]
        if "skipped" not in old and "skipped" in case:
            worse.append(f"{label}: ran in the baseline, skipped now ({case['skipped']})")
        for name in case.get("errors", {}):
            if name not in old.get("errors", {}):
                worse.append(f"{label}: {name} fails now")
        old_comps = {(c["reference"], c["candidate"]): c for c in old.get("comparisons", [])}
        for comp in case.get("comparisons", []):
            prev = old_comps.get((comp["reference"], comp["candidate"]))
            if prev is not None:
                worse += _outputs(label, comp, prev, slack, floor)
        new_det = case.get("detections", {}).get("compare")
        old_det = old.get("detections", {}).get("compare")
        if new_det and old_det:
            worse += _detections(label, new_det, old_det, floor)
    old_locs = {loc.get("against"): loc for loc in baseline.get("localisation") or []}
    for loc in report.get("localisation") or []:
        prev = old_locs.get(loc.get("against"))
        if prev is not None and loc.get("first_divergence") and not prev.get("first_divergence"):
            worse.append(
                f"localisation vs {loc['against']}: layer {loc['first_divergence']} now diverges"
            )
    return worse
