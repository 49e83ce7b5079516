"""The dashboard's charts as inline SVG strings, and the formatting they share with the page.

Pure: values in, escaped markup out. Colours come from classes in ``static/dashboard.css``
(no inline styles, so the page runs under a strict Content-Security-Policy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from driftloop.adapters.reports import is_report_id

CHART_W, CHART_H = 960, 260
PAD_L, PAD_R, PAD_T, PAD_B = 52, 16, 18, 44


def esc(value: Any) -> str:
    """Text for HTML (None shows as "-")."""
    return escape("-" if value is None else str(value), quote=True)


def as_float(value: Any) -> float | None:
    """A finite float, or None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage ("-" when unknown)."""
    f = as_float(value)
    return "-" if f is None else f"{f * 100:.{digits}f}%"


def fixed(value: Any, digits: int = 4) -> str:
    """A number with fixed decimals ("-" when unknown)."""
    f = as_float(value)
    return "-" if f is None else f"{f:.{digits}f}"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def hms(value: Any) -> str:
    """The time of day of an ISO 8601 time."""
    t = parse_time(value)
    return t.strftime("%H:%M:%S") if t else "-"


def stamp(value: Any, now: datetime | None = None) -> str:
    """'2026-11-28 12:19:48 UTC (5 min ago)'."""
    t = value if isinstance(value, datetime) else parse_time(value)
    if t is None:
        return "-"
    text = t.strftime("%Y-%m-%d %H:%M:%S UTC")
    if now is not None and t.tzinfo is not None:
        s = (now - t).total_seconds()
        ago = (
            f"{s:.0f} s"
            if s < 120
            else f"{s / 60:.0f} min"
            if s < 7200
            else f"{s / 3600:.1f} h"
            if s < 172800
            else f"{s / 86400:.0f} days"
        )
        text += f" ({ago} ago)" if s >= 0 else ""
    return text


def report_href(report_id: Any) -> str | None:
    """The link to a drift report (only for well-formed report ids)."""
    return f"/reports/{report_id}" if report_id and is_report_id(report_id) else None


def _axis(top: float) -> tuple[float, list[float]]:
    """The top of a 0-based axis rounded up to a tick, and its ticks (at most 7)."""
    step = next(s for s in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if top / s <= 6)
    count = math.ceil(top / step - 1e-9)
    return count * step, [i * step for i in range(count + 1)]


@dataclass(frozen=True)
class _Plot:
    """The drift chart's geometry: ``n`` slots of equal width, y from 0 to ``top``."""

    n: int
    top: float

    @property
    def width(self) -> float:
        return CHART_W - PAD_L - PAD_R

    @property
    def height(self) -> float:
        return CHART_H - PAD_T - PAD_B

    @property
    def slot(self) -> float:
        return self.width / self.n

    def y(self, v: float) -> float:
        return PAD_T + self.height * (1 - min(v, self.top) / self.top)

    def x(self, i: int) -> float:
        return PAD_L + self.slot * (i + 0.5)


def drift_chart(windows: Sequence[Mapping[str, Any]], threshold: float | None) -> str:
    """One bar per checked window (height: share of drifted features), the policy's share
    threshold as a dashed line, drifted windows in red; each bar links to its report."""
    if not windows:
        return (
            '<p class="empty">No drift check yet: the server checks every N logged '
            "rows, or run <code>driftloop detect</code>.</p>"
        )
    shares = [as_float(w.get("drift_share")) or 0.0 for w in windows]
    top, ticks = _axis(min(1.0, max(0.25, max(shares) * 1.15, (threshold or 0) * 1.5)))
    plot = _Plot(len(windows), top)
    n = plot.n
    out = [f'<svg id="drift-chart" class="chart" viewBox="0 0 {CHART_W} {CHART_H}" '
           f'role="img" aria-label="drift share of {n} checked windows" '
           f'data-windows="{n}">']  # fmt: skip
    for t in ticks:
        out.append(f'<line class="grid" x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{plot.y(t):.1f}" '
                   f'y2="{plot.y(t):.1f}"/><text class="axis" x="{PAD_L - 6}" '
                   f'y="{plot.y(t) + 4:.1f}" text-anchor="end">{t * 100:.0f}%</text>')  # fmt: skip
    label_every = max(1, math.ceil(n / 8))
    for i, (w, share) in enumerate(zip(windows, shares, strict=True)):
        if i > 0 and w.get("model_version") != windows[i - 1].get("model_version"):
            out.append(_version_change(plot, i, w.get("model_version")))
        out.append(_window_bar(plot, i, w, share))
        if i % label_every == 0 or i == n - 1:
            out.append(
                f'<text class="axis" x="{plot.x(i):.1f}" y="{PAD_T + plot.height + 16}" '
                f'text-anchor="middle">{hms(w.get("checked_at"))}</text>'
            )
    if threshold is not None:
        ty = plot.y(threshold)
        out.append(f'<line class="threshold" x1="{PAD_L}" x2="{CHART_W - PAD_R}" '
                   f'y1="{ty:.1f}" y2="{ty:.1f}"/><text class="threshold-label" '
                   f'x="{CHART_W - PAD_R - 4}" y="{ty - 5:.1f}" text-anchor="end">retrain '
                   f'share {pct(threshold, 0)}</text>')  # fmt: skip
    out.append(
        f'<text class="axis" x="{PAD_L + plot.width / 2:.0f}" y="{CHART_H - 6}" '
        f'text-anchor="middle">checked at (UTC), oldest left</text></svg>'
    )
    return "".join(out)


def _version_change(plot: _Plot, i: int, version: Any) -> str:
    """A vertical line before window ``i``, where a new model version starts."""
    left = plot.x(i) - plot.slot / 2
    return (f'<line class="version-change" x1="{left:.1f}" x2="{left:.1f}" y1="{PAD_T}" '
            f'y2="{PAD_T + plot.height}"/><text class="version-label" x="{left + 3:.1f}" '
            f'y="{PAD_T + 10}">v{esc(version)}</text>')  # fmt: skip


def _window_bar(plot: _Plot, i: int, w: Mapping[str, Any], share: float) -> str:
    """One window's bar with its tooltip, linked to its report when it has one."""
    cx, slot, ph = plot.x(i), plot.slot, plot.height
    bar = max(2.0, min(36.0, slot * 0.7))
    drifted = bool(w.get("window_drifted"))
    top_y = plot.y(share)
    verdict = "drifted: " + ", ".join(w.get("drifted_features") or []) if drifted else (
        "not drifted")  # fmt: skip
    tip = (f"{hms(w.get('checked_at'))} · report {w.get('report_id')} · model "
           f"v{w.get('model_version')} · {w.get('rows')} rows · drift share {pct(share)} · "
           f"{verdict}{' · retrain decided' if w.get('retrain') else ''}")  # fmt: skip
    body = (f'<title>{esc(tip)}</title>'
            f'<rect class="hit" x="{cx - slot / 2:.1f}" y="{PAD_T}" width="{slot:.1f}" '
            f'height="{ph}"/><rect class="{"bar drifted" if drifted else "bar"}" '
            f'x="{cx - bar / 2:.1f}" y="{top_y:.1f}" width="{bar:.1f}" '
            f'height="{max(PAD_T + ph - top_y, 1.5):.1f}"/>')  # fmt: skip
    if w.get("retrain"):
        body += (f'<text class="retrain-mark" x="{cx:.1f}" y="{top_y - 5:.1f}" '
                 f'text-anchor="middle">R</text>')  # fmt: skip
    attrs = (
        f'class="window{" drifted" if drifted else ""}" '
        f'data-report-id="{esc(w.get("report_id"))}" data-drift-share="{share:.4f}"'
    )
    href = report_href(w.get("report_id")) if w.get("html") else None
    return f'<a href="{href}" {attrs}>{body}</a>' if href else f"<g {attrs}>{body}</g>"


def line_chart(points: Sequence[tuple[str, float | None, str]], label: str) -> str:
    """A small line chart of (x label, value, tooltip) points, y fitted to the values."""
    vals = [v for _, v, _ in points if v is not None]
    if not vals:
        return ""
    w, h, pl, pr, pt, pb = 960, 170, 52, 16, 14, 30
    lo, hi = min(vals), max(vals)
    pad = max((hi - lo) * 0.15, 0.01)
    lo, hi = lo - pad, hi + pad
    pw, ph = w - pl - pr, h - pt - pb
    slot = pw / len(points)

    def y(v: float) -> float:
        return pt + ph * (1 - (v - lo) / (hi - lo))

    out = [
        f'<svg id="quality-chart" class="chart" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{esc(label)} per labelled window">'
    ]
    for t in (lo + (hi - lo) * k / 4 for k in range(5)):
        out.append(f'<line class="grid" x1="{pl}" x2="{w - pr}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
                   f'<text class="axis" x="{pl - 6}" y="{y(t) + 4:.1f}" text-anchor="end">'
                   f'{t:.3f}</text>')  # fmt: skip
    coords = [(pl + slot * (i + 0.5), v) for i, (_, v, _) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in coords if v is not None)
    out.append(f'<polyline class="quality-line" points="{path}"/>')
    shown = None
    for (x, v), (xl, _, tip) in zip(coords, points, strict=True):
        if v is not None:
            out.append(
                f'<circle class="quality-point" cx="{x:.1f}" cy="{y(v):.1f}" r="4">'
                f"<title>{esc(tip)}</title></circle>"
            )
        if xl != shown:  # windows closed within the same second share one label
            out.append(
                f'<text class="axis" x="{x:.1f}" y="{h - 10}" text-anchor="middle">{esc(xl)}</text>'
            )
            shown = xl
    out.append("</svg>")
    return "".join(out)


def mix_bar(mix: Mapping[str, int]) -> str:
    """The predicted-class mix as one stacked bar with a legend."""
    total = sum(mix.values())
    if not total:
        return '<p class="empty">No predictions in this period.</p>'
    x, parts, legend = 0.0, [], []
    for i, (cls, n) in enumerate(mix.items()):
        width = 400 * n / total
        parts.append(
            f'<rect class="mix-{i % 6}" x="{x:.1f}" y="0" width="{width:.1f}" '
            f'height="18"><title>{esc(cls)}: {n}</title></rect>'
        )
        legend.append(f'<span class="swatch mix-{i % 6}"></span>{esc(cls)} {n} ({n / total:.0%})')
        x += width
    return (
        f'<svg class="mix" viewBox="0 0 400 18" role="img" aria-label="predicted classes">'
        f'{"".join(parts)}</svg><p class="legend">{" &nbsp; ".join(legend)}</p>'
    )


def value_histogram(summary: Mapping[str, Any] | None) -> str:
    """A regressor's predicted values: quantiles and one bar per histogram bin."""
    if not summary or not summary.get("count"):
        return '<p class="empty">No predictions in this period.</p>'
    bins = list(summary.get("bins") or [])
    top = max((int(b[2]) for b in bins), default=0) or 1
    slot = 400 / max(len(bins), 1)
    bars = []
    for i, (lo, hi, n) in enumerate(bins):
        h = 40 * int(n) / top
        span = (f"up to {fixed(hi, 3)}" if lo is None else f"above {fixed(lo, 3)}"
                if hi is None else f"{fixed(lo, 3)} to {fixed(hi, 3)}")  # fmt: skip
        bars.append(
            f'<rect class="mix-0" x="{i * slot + 1:.1f}" y="{40 - h:.1f}" width='
            f'"{max(slot - 2, 1):.1f}" height="{h:.1f}"><title>{esc(span)}: {n}</title></rect>'
        )
    quantiles = " &nbsp; ".join(
        f"{esc(k)} {fixed(v, 3)}" for k, v in (summary.get("quantiles") or {}).items()
    )
    return (
        f'<svg class="values" viewBox="0 0 400 40" role="img" aria-label="predicted values">'
        f'{"".join(bars)}</svg><p class="legend">{summary.get("count")} values: {quantiles}</p>'
    )
