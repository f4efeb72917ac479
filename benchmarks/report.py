"""Write the results: JSON (everything), Markdown (the table) and SVG line plots (curves).

The SVG is written by hand (polylines on log-free linear axes) so that the benchmarks need no
plotting library.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.context import H100_PEAK, Context, Row

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value < 10 else f"{value:.0f}"


def _row_md(row: Row) -> str:
    met = {True: "yes", False: "**MISSED**", None: ""}[row.met]
    x_floor = row.x_floor
    cells = [
        row.case, row.setting, row.form, _ms(row.median_ms),
        f"{_ms(row.p10_ms)}-{_ms(row.p90_ms)}" if row.p10_ms is not None else "-",
        str(row.runs) if row.runs else "-",
        "-" if row.gflop is None else f"{row.gflop:.3g}",
        _ms(row.floor_ms), "-" if x_floor is None else f"{x_floor:.2f}",
        "-" if row.h100_floor_ms is None else f"{row.h100_floor_ms:.3f}",
        "-" if row.speedup is None else f"{row.speedup:.2f}x",
        f"{row.target} {met}".strip(), row.parity, row.note,
    ]
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def markdown(ctx: Context, env: dict[str, Any], plots: list[Path]) -> str:
    head = [
        f"# faceport benchmarks ({env['date']}, {'quick' if ctx.quick else 'full'})",
        "",
        f"- machine: {env['cpu']}, {env['cores']} cores; threads used: {ctx.threads}, "
        f"OMP_WAIT_POLICY={env.get('omp_wait_policy') or 'default'}",
        f"- measured floor: fp32 GEMM {env['peak_gflops']:.1f} GFLOP/s on {ctx.threads} threads"
        f" (2048^3 matmul, torch); re-measured at the end: {env.get('peak_gflops_end', 0):.1f}",
        f"- H100 floor column: {H100_PEAK['fp32'] / 1e12:.0f} TFLOP/s dense fp32 (SXM5 "
        "datasheet; fp16/bf16 tensor cores 989 TFLOP/s dense)",
        f"- load average (1/5/15 min) at start {env['load_start']}, at end {env['load_end']}"
        " - the machine is shared: compare rows of one run, not absolute numbers across runs",
        f"- versions: {env['versions']}",
        "- ms = median wall time; speed-up = original median / faceport median, timed "
        "round-robin in one process; x floor = median / (GFLOP at the measured peak)",
        "",
        "| case | setting | form | ms | p10-p90 | n | GFLOP | floor ms | x floor | H100 ms "
        "| speed-up | target | parity | note |",
        "|" + "---|" * 14,
    ]
    lines = head + [_row_md(r) for r in ctx.rows]
    if ctx.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in ctx.notes]
    if plots:
        lines += ["", "## Curves", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def write(ctx: Context, env: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and one SVG per curve set; returns the paths."""
    from faceport.atomic import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = []
    for i, (title, series) in enumerate(sorted(ctx.curves.items())):
        path = out_dir / f"{stem}-curve{i + 1}.svg"
        with atomic_path(path, suffix=".svg") as tmp:
            Path(tmp).write_text(svg_plot(title, series), encoding="utf-8")
        plots.append(path)
    data = {
        "env": env,
        "rows": [r.to_json() for r in ctx.rows],
        "curves": {k: {s: pts for s, pts in v.items()} for k, v in ctx.curves.items()},
        "notes": ctx.notes,
    }
    paths = []
    for suffix, text in ((".json", json.dumps(data, indent=1)), (".md", markdown(ctx, env, plots))):
        path = out_dir / f"{stem}{suffix}"
        with atomic_path(path, suffix=suffix) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        paths.append(path)
    return paths + plots


def svg_plot(title: str, series: dict[str, list[tuple[float, float]]]) -> str:
    """A line plot of y (ms) against x for each series, 640x400 px."""
    width, height, left, right, top, bottom = 640, 400, 70, 170, 40, 50
    points = [p for pts in series.values() for p in pts]
    if not points:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    x_max = max(p[0] for p in points) or 1.0
    y_max = max(p[1] for p in points) or 1.0
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * x / x_max

    def sy(y: float) -> float:
        return top + ph * (1 - y / y_max)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        "font-family='sans-serif' font-size='12'>",
        "<rect width='100%' height='100%' fill='white'/>",
        f"<text x='{width / 2}' y='20' text-anchor='middle' font-size='14'>{_esc(title)}</text>",
        f"<line x1='{left}' y1='{top + ph}' x2='{left + pw}' y2='{top + ph}' stroke='black'/>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + ph}' stroke='black'/>",
    ]
    for k in range(5):
        yv, xv = y_max * k / 4, x_max * k / 4
        parts.append(f"<text x='{left - 6}' y='{sy(yv) + 4:.1f}' text-anchor='end'>{yv:.3g}</text>")
        parts.append(f"<text x='{sx(xv):.1f}' y='{top + ph + 18}' text-anchor='middle'>"
                     f"{xv:.3g}</text>")
    parts.append(f"<text x='14' y='{top + ph / 2}' transform='rotate(-90 14 {top + ph / 2})' "
                 "text-anchor='middle'>ms</text>")
    for i, (name, pts) in enumerate(sorted(series.items())):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = sorted(pts)
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f"<polyline points='{coords}' fill='none' stroke='{colour}' "
                     "stroke-width='2'/>")
        parts += [f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{colour}'/>"
                  for x, y in pts]
        ly = top + 16 * i
        parts.append(f"<rect x='{width - right + 10}' y='{ly}' width='12' height='3' "
                     f"fill='{colour}'/>")
        parts.append(f"<text x='{width - right + 26}' y='{ly + 5}'>{_esc(name)}</text>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
