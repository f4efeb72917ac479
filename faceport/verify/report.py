"""Verification reports: stable JSON, a self-contained HTML page, and baseline regression.

The HTML page has no external resources (no CDN scripts, fonts or images): plots are inline
SVG and the detection pictures are embedded PNG data URIs, so it renders offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from faceport.atomic import atomic_path
from faceport.verify.baseline import compare_to_baseline
from faceport.verify.matrix import VerifyResult

__all__ = ["compare_to_baseline", "render_html", "write_report"]

MAX_PICTURE_SIDE = 640


def write_report(result: VerifyResult, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (atomically each)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(result.report, indent=1, sort_keys=True, default=_json_default))
    with atomic_path(html_path) as tmp:
        tmp.write_text(render_html(result), encoding="utf-8")
    return json_path, html_path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    pic = Image.fromarray(np.asarray(image, dtype=np.uint8))
    scale = MAX_PICTURE_SIDE / max(pic.size)
    if scale < 1:
        pic = pic.resize((max(1, round(pic.width * scale)), max(1, round(pic.height * scale))))
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bar_svg(labels: list[str], values: list[float], title: str, bad: list[bool]) -> str:
    """Horizontal bars of log10(value) (values <= 0 drawn at the 1e-12 floor)."""
    row, width, left = 16, 640, 260
    logs = [math.log10(v) if v > 0 else -12.0 for v in values]
    lo, hi = min([-12.0, *logs]), max([0.0, *logs])
    span = hi - lo or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + left + 80}" '
        f'height="{row * len(labels) + 40}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="4" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value, lg) in enumerate(zip(labels, values, logs)):
        y = 24 + i * row
        w = max(1.0, (lg - lo) / span * width)
        colour = "#c0392b" if bad[i] else "#2e86c1"
        parts.append(f'<text x="4" y="{y + 11}" font-size="11">{html.escape(label[:40])}</text>')
        parts.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 4}" fill="{colour}">'
            f"<title>{html.escape(label)}: {value:.3g}</title></rect>"
        )
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 11}" font-size="10">{value:.2g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hist_svg(hist: dict[str, list[float]], title: str) -> str:
    counts, edges = hist.get("counts", []), hist.get("edges", [])
    if not counts:
        return ""
    width, height = 420, 120
    top = max(counts) or 1
    bw = width / len(counts)
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - c / top * (height - 20):.1f}" width="{bw - 2:.1f}" '
        f'height="{c / top * (height - 20):.1f}" fill="#7d3c98"><title>1e{edges[i]:.0f}..1e'
        f"{edges[i + 1]:.0f}: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    ticks = "".join(
        f'<text x="{i * bw:.1f}" y="{height + 12}" font-size="9">{edges[i]:.0f}</text>'
        for i in range(0, len(counts), 2)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}">'
        f'<text x="0" y="10" font-size="11">{html.escape(title)} (log10 |error|)</text>'
        f"{bars}{ticks}</svg>"
    )


def _localisation_html(loc: dict[str, Any]) -> str:
    esc = html.escape
    head = (
        f"<h2>Per-layer error vs {esc(str(loc.get('against')))} ({esc(str(loc.get('image')))})</h2>"
    )
    if loc.get("error"):
        return f"{head}<pre class='fail'>failed: {esc(str(loc['error']))}</pre>"
    if "skipped" in loc and not loc.get("layers"):
        return f"{head}<p>skipped: {esc(str(loc['skipped']))}</p>"
    layers = loc.get("layers", [])
    parts = [head, f"<pre>first divergence: {esc(str(loc.get('first_divergence')))}</pre>"]
    if layers:
        parts.append(
            _bar_svg(
                [f"{x['name']} ({x['op']})" for x in layers],
                [float(x["max_abs"]) / (float(x["ref_scale"]) or 1.0) for x in layers],
                f"max-abs / max|ref| per layer, {loc['candidate']} vs {loc['reference']}",
                [not x["passed"] for x in layers],
            )
        )
    if loc.get("untapped"):
        parts.append(f"<p>not tapped on both sides: {esc(', '.join(loc['untapped']))}</p>")
    return "".join(parts)


def render_html(result: VerifyResult) -> str:
    r = result.report
    esc = html.escape
    summary = r["summary"]
    verdict = str(summary.get("verdict", "pass" if summary["passed"] else "fail"))
    status = verdict.upper()
    css = verdict.replace(" ", "-")
    body = [
        f"<h1>faceport verify: <span class='{css}'>{status}</span></h1>",
        f"<pre>{esc(summary['text'])}</pre>",
        f"<p>model: {esc(json.dumps(r['model']))}<br>date: {esc(r['date'])}, faceport "
        f"{esc(r['faceport_version'])}, host {esc(json.dumps(r['host']))}</p>",
        "<h2>Backends</h2><ul>",
        *(f"<li>ran: {esc(b)}</li>" for b in r["backends"]["ran"]),
        *(f"<li>skipped: {esc(k)} — {esc(v)}</li>" for k, v in r["backends"]["skipped"].items()),
        "</ul>",
    ]
    for loc in r.get("localisation") or []:
        body.append(_localisation_html(loc))
    for case in r["cases"]:
        body.append(f"<h2>{esc(case['image'])} ({case['size'][1]}x{case['size'][0]})</h2>")
        if "skipped" in case:
            body.append(f"<p>skipped: {esc(case['skipped'])}</p>")
        for name, error in case.get("errors", {}).items():
            body.append(f"<pre class='fail'>{esc(name)} failed: {esc(error)}</pre>")
        if case.get("seconds"):
            body.append(
                "<p>seconds per run: "
                + ", ".join(f"{esc(k)} {v:.3f}" for k, v in case["seconds"].items())
                + "</p>"
            )
        for comp in case["comparisons"]:
            body.append(f"<pre>{esc(comp['text'])}</pre>")
            for name, hist in comp.get("histograms", {}).items():
                body.append(_hist_svg(hist, f"{comp['candidate']} {name}"))
        det = case.get("detections", {})
        for key in ("text", "error", "reference_skipped"):
            if key in det:
                body.append(f"<pre>{esc(key)}: {esc(det[key])}</pre>")
        if case["image"] in result.pictures:
            body.append(
                f"<figure><img alt='detections on {esc(case['image'])}' "
                f"src='{_png_data_uri(result.pictures[case['image']])}'>"
                "<figcaption>green: faceport, magenta: reference</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1100px}pre{background:#f4f4f4;"
        "padding:.5em;overflow:auto}.pass{color:#1e8449}.fail{color:#c0392b}.not-verified{color:#b9770e}img{max-width:100%}"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>faceport verify {status}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
