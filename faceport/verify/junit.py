"""JUnit XML for CI systems: one ``<testcase>`` per image, so a verify run shows up like a
test suite (GitLab, Jenkins, GitHub test reporters read this format).

An image that passed is a plain testcase; a parity failure is a ``<failure>`` with the
failing comparisons; an image the model could not take, or one not compared with the source
framework, is ``<skipped>`` with the reason (not verified is never shown as passed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from faceport.atomic import atomic_path
from faceport.verify.matrix import VerifyResult, case_findings


def junit_xml(result: VerifyResult) -> str:
    """The report as a JUnit ``<testsuites>`` document."""
    report = result.report
    reference = report["backends"].get("reference")
    model = str(report["model"].get("file", "model"))
    suite = ET.Element("testsuite", name=f"faceport verify {model}")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for case in report["cases"]:
        counts["tests"] += 1
        seconds = sum(float(s) for s in case.get("seconds", {}).values())
        element = ET.SubElement(suite, "testcase", classname=model, name=str(case["image"]),
                                time=f"{seconds:.3f}")  # fmt: skip
        if "skipped" in case:
            counts["skipped"] += 1
            ET.SubElement(element, "skipped", message=str(case["skipped"])[:500])
            continue
        failures, unverified = case_findings(case, reference)
        if failures:
            counts["failures"] += 1
            texts = [c["text"] for c in case["comparisons"] if not c["passed"]]
            node = ET.SubElement(element, "failure", message="; ".join(failures)[:500])
            node.text = "\n\n".join(texts) or "\n".join(failures)
        elif unverified:
            counts["skipped"] += 1
            ET.SubElement(element, "skipped", message="not verified: " + "; ".join(unverified))
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites", name="faceport verify")
    root.append(suite)
    summary = ET.SubElement(suite, "system-out")
    summary.text = str(report["summary"]["text"])
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: VerifyResult, path: str | os.PathLike[str]) -> Path:
    """Write :func:`junit_xml` atomically."""
    target = Path(path)
    with atomic_path(target, suffix=".xml") as tmp:
        tmp.write_text(junit_xml(result), encoding="utf-8")
    return target


def summary_json(result: VerifyResult) -> dict[str, Any]:
    """What ``--json`` prints: the verdict, its exit code and the summary numbers."""
    summary = dict(result.report["summary"])
    return {
        "schema": result.report["schema"],
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "model": result.report["model"],
        "backends": result.report["backends"],
        "images": len(result.report["cases"]),
        **{k: v for k, v in summary.items() if k not in ("passed",)},
    }
