"""The dashboard page: a facts dict (``driftloop.jobs.status``) in, one HTML string out.

Pure and server-side: the charts are inline SVG (``dashboard_charts``), the page links only
to its own CSS and script (``/dashboard/static/…``), nothing comes from a CDN. Every value from the
facts is escaped. The page carries no inline styles or scripts, so it runs under a strict
Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from driftloop.core.gate import interval_text
from driftloop.core.statuses import GATE_PASSED, EventStatus, RetrainStatus
from driftloop.serve.dashboard_charts import (
    as_float,
    drift_chart,
    esc,
    fixed,
    hms,
    line_chart,
    mix_bar,
    parse_time,
    pct,
    report_href,
    stamp,
    value_histogram,
)

OUTCOME_CLASS: dict[str, str] = {
    RetrainStatus.PROMOTED: "good", GATE_PASSED: "good", RetrainStatus.REJECTED: "warn",
    RetrainStatus.SKIPPED: "muted", RetrainStatus.SUPERSEDED: "muted",
    RetrainStatus.FAILED: "bad", RetrainStatus.RUNNING: "info",
    RetrainStatus.TRAINED: "info", EventStatus.DUPLICATE_SKIPPED: "muted",
    EventStatus.RETRAIN_PROMOTED: "good", EventStatus.RETRAIN_REJECTED: "warn",
    EventStatus.RETRAIN_FAILED: "bad", EventStatus.RETRAIN_SUPERSEDED: "muted",
}  # fmt: skip
"""The CSS class of a timeline outcome (a retrain, gate or event status)."""


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs)


def model_card(model: Mapping[str, Any] | None, now: datetime | None) -> str:
    """The serving model: version, since when, dataset version, metrics."""
    if not model or not model.get("version"):
        err = (model or {}).get("last_reload_error") or {}
        why = f": {esc(err.get('error'))}" if err else ""
        return (
            '<section class="card" id="model"><h2>Serving model</h2>'
            f'<p class="bad">No model loaded{why}</p></section>'
        )
    pairs = [
        (
            "version",
            f'<span class="big">v{esc(model["version"])}</span> '
            f'<span class="muted">{esc(model.get("name"))}</span>',
        ),
        (f"since ({esc(model.get('since_what') or '-')})", esc(stamp(model.get("since"), now))),
        ("dataset version", f"<code>{esc(model.get('dataset_version'))}</code>"),
        ("candidate", f"{esc(model.get('candidate'))} ({esc(model.get('kind'))})"),
    ]
    if model.get("loaded_at") and model.get("since_what") != "loaded":
        pairs.append(("loaded here", esc(stamp(model.get("loaded_at"), now))))
    if model.get("fast_path"):
        pairs.append(("fast path", esc(model["fast_path"])))
    champion = model.get("champion_version")
    if champion and str(champion) != str(model["version"]):
        pairs.append(
            ("champion alias", f'<span class="warn">v{esc(champion)} (not loaded yet)</span>')
        )
    if err := model.get("last_reload_error"):
        pairs.append(("last reload error", f'<span class="bad">{esc(err.get("error"))}</span>'))
    metrics = model.get("metrics") or {}
    names = sorted({k.split("_", 1)[1] for k in metrics})
    splits = [s for s in ("valid", "test") if any(k.startswith(s + "_") for k in metrics)]
    table = "".join(f"<tr><th>{esc(n)}</th>"
                    + "".join(f"<td>{fixed(metrics.get(f'{s}_{n}'))}</td>" for s in splits)
                    + "</tr>" for n in names)  # fmt: skip
    head = "".join(f"<th>{s}</th>" for s in splits)
    metric_html = (
        (
            f'<table class="metrics"><thead><tr><th>metric</th>{head}</tr></thead>'
            f"<tbody>{table}</tbody></table>"
        )
        if names
        else ""
    )
    return (
        f'<section class="card" id="model"><h2>Serving model</h2><table class="kv">'
        f"{_rows(pairs)}</table>{metric_html}</section>"
    )


def traffic_card(traffic: Mapping[str, Any] | None) -> str:
    """Request and prediction rates, errors, latency, predicted-class mix."""
    if not traffic:
        return (
            '<section class="card" id="traffic"><h2>Traffic</h2>'
            '<p class="empty">No traffic figures.</p></section>'
        )
    lat = traffic.get("latency_ms") or {}
    rate = as_float(traffic.get("request_rate"))
    err = as_float(traffic.get("error_rate"))
    pairs = [
        ("requests/s", "-" if rate is None else f'<span class="big">{rate:.2f}</span>'),
        ("predictions/s", fixed(traffic.get("prediction_rate"), 2)),
        ("server errors (5xx)", f'<span class="{"bad" if err else ""}">{pct(err, 2)}</span>'),
        ("client errors (4xx)", pct(traffic.get("client_error_rate"), 2)),
        (
            "latency p50 / p95 / p99",
            " / ".join(fixed(lat.get(k), 2) for k in ("p50", "p95", "p99")) + " ms",
        ),
    ]
    routes = "".join(
        f"<tr><td><code>{esc(r['route'])}</code></td><td>{esc(r['requests'])}</td>"
        f"<td>{esc(r['errors'])}</td></tr>"
        for r in traffic.get("routes") or []
    )
    route_html = (
        (
            f'<table class="routes"><thead><tr><th>route</th><th>requests</th>'
            f"<th>5xx</th></tr></thead><tbody>{routes}</tbody></table>"
        )
        if routes
        else ""
    )
    return (
        f'<section class="card" id="traffic"><h2>Traffic <small>'
        f'{esc(traffic.get("basis"))}</small></h2><table class="kv">{_rows(pairs)}</table>'
        f"{_predicted(traffic)}"
        f"{route_html}</section>"
    )


def _predicted(traffic: Mapping[str, Any]) -> str:
    values = traffic.get("prediction_values")
    if values is not None:
        return f"<h3>Predicted values</h3>{value_histogram(values)}"
    return f"<h3>Predicted classes</h3>{mix_bar(traffic.get('class_mix') or {})}"


def policy_card(policy: Mapping[str, Any] | None, monitor: Mapping[str, Any] | None) -> str:
    """The retrain rule and the in-server monitor."""
    pairs: list[tuple[str, str]] = []
    if policy:
        keys = ", ".join(policy.get("key_features") or []) or "none"
        pairs += [
            (
                "window drifts when",
                f"≥ {pct(policy.get('drift_share'), 0)} of features "
                f"drift, or a key feature does ({esc(keys)})",
            ),
            ("feature drifts when", f"distance ≥ {esc(policy.get('threshold'))}"),
            (
                "retrain needs",
                f"≥ {esc(policy.get('min_rows'))} rows, "
                f"{esc(policy.get('consecutive_windows'))} drifted window(s) "
                f"in a row, {esc(policy.get('cooldown_s'))} s cool-down",
            ),
        ]
    if monitor:
        pairs += [
            (
                "monitor",
                f"checks every {esc(monitor.get('every_rows'))} logged rows; "
                f"{esc(monitor.get('checks'))} checks in this process",
            )
        ]
        if monitor.get("last_error"):
            error = esc(monitor["last_error"])
            pairs.append(("monitor error", f'<span class="bad">{error}</span>'))
    body = f'<table class="kv">{_rows(pairs)}</table>' if pairs else '<p class="empty">-</p>'
    return f'<section class="card" id="policy"><h2>Drift policy</h2>{body}</section>'


def drift_section(windows: Sequence[Mapping[str, Any]], policy: Mapping[str, Any] | None) -> str:
    """The drift chart, with a legend and the newest window in words."""
    threshold = as_float((policy or {}).get("drift_share"))
    drifted = sum(1 for w in windows if w.get("window_drifted"))
    latest = ""
    if windows:
        w = windows[-1]
        href = report_href(w.get("report_id")) if w.get("html") else None
        link = f' <a href="{href}">open its report</a>' if href else ""
        latest = (
            f'<p class="caption">Newest window: {pct(w.get("drift_share"))} of features '
            f"drifted ({esc(', '.join(w.get('drifted_features') or []) or 'none')}); "
            f"{'retrain decided' if w.get('retrain') else 'no retrain'}.{link}</p>"
        )
    return (
        f'<section id="drift"><h2>Drift share per window <small>{len(windows)} windows, '
        f"{drifted} drifted</small></h2>{drift_chart(windows, threshold)}"
        '<p class="legend"><span class="swatch bar"></span>not drifted &nbsp; '
        '<span class="swatch drifted"></span>drifted: share over the threshold, or a key '
        "feature drifted (click: Evidently report) &nbsp; "
        '<span class="swatch threshold"></span>retrain threshold &nbsp; R: retrain '
        f"decided &nbsp; dotted line: model version changed</p>{latest}</section>"
    )


def estimate_section(windows: Sequence[Mapping[str, Any]]) -> str:
    """The serving model's metric per checked window: estimated without labels, realised on
    the window's labelled rows, newest first."""
    shown = [w for w in windows if w.get("metric")][-12:]
    head = "<h2>Estimated and realised performance per window</h2>"
    if not shown:
        return (f'<section id="estimate">{head}<p class="empty">No estimate yet: models '
                "trained by this version store one; checks show it.</p></section>")  # fmt: skip
    metric = esc(shown[-1].get("metric"))
    rows = "".join(
        f"<tr><td>{esc(stamp(w.get('checked_at')))}</td><td>v{esc(w.get('model_version'))}</td>"
        f"<td>{esc(w.get('rows'))}</td><td>{fixed(as_float(w.get('estimated')))}</td>"
        f"<td>{fixed(as_float(w.get('realised')))}</td><td>{esc(w.get('labelled_rows'))}</td></tr>"
        for w in reversed(shown)
    )
    return (
        f'<section id="estimate">{head}<p class="caption">{metric} estimated from calibrated '
        "probabilities (regression: a model of the error) on every window, next to the "
        "realised value on its rows that have labels.</p>"
        f'<table class="estimate"><thead><tr><th>checked</th><th>model</th><th>rows</th>'
        f"<th>estimated {metric}</th><th>realised {metric}</th><th>labelled rows</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )


def timeline_section(timeline: Sequence[Mapping[str, Any]]) -> str:
    """Drift events, retrains and gate decisions (both scores, the outcome), newest first."""
    if not timeline:
        return (
            '<section id="timeline"><h2>Drift events, retrains and gate decisions</h2>'
            '<p class="empty">Nothing yet: no drift event has been emitted.</p></section>'
        )
    rows = []
    for e in timeline:
        detail = esc(e.get("detail"))
        if s := e.get("scores"):
            ch, cp = as_float(s.get("challenger")), as_float(s.get("champion"))
            detail = (
                f"{esc(s.get('metric'))}: challenger v{esc(s.get('challenger_version'))} "
                f'<b class="score">{fixed(ch)}</b> vs champion '
                f'v{esc(s.get("champion_version"))} <b class="score">{fixed(cp)}</b> '
                f"(margin {esc(s.get('margin'))}, {esc(s.get('rows'))} rows)"
            )
            if s.get("interval"):
                detail += f"; {esc(interval_text(s['interval']))}"
        href = report_href(e.get("report_id"))
        if href:
            detail += f' · <a href="{href}">report</a>'
        outcome = str(e.get("outcome"))
        rows.append(
            f'<tr class="entry {esc(e.get("kind"))}"><td>{esc(stamp(e.get("at")))}</td>'
            f'<td><span class="kind">{esc(e.get("kind"))}</span></td>'
            f"<td><code>{esc(str(e.get('id'))[:12])}</code></td><td>{detail}</td>"
            f'<td><span class="outcome {OUTCOME_CLASS.get(outcome, "")}">'
            f"{esc(outcome)}</span></td></tr>"
        )
    return (
        '<section id="timeline"><h2>Drift events, retrains and gate decisions</h2>'
        '<table class="timeline"><thead><tr><th>at</th><th>what</th><th>id</th>'
        f"<th>details</th><th>outcome</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></section>"
    )


def quality_section(quality: Mapping[str, Any] | None) -> str:
    """The model's quality per window of labelled production rows."""
    head = "<h2>Live quality on labelled traffic</h2>"
    windows = (quality or {}).get("windows") or []
    if not windows:
        return (
            f'<section id="quality">{head}<p class="empty">No labels yet: send them to '
            "<code>POST /feedback</code>.</p></section>"
        )
    metric = str(quality.get("metric")) if quality else "-"
    names = list((windows[-1].get("metrics") or {}).keys())
    points = [(hms(w.get("end")), as_float((w.get("metrics") or {}).get(metric)),
               f"{w.get('rows')} rows to {w.get('end')} · model "
               f"{', '.join('v' + str(v) for v in w.get('model_versions') or [])}")
              for w in windows]  # fmt: skip
    rows = "".join(
        f"<tr><td>{esc(stamp(w.get('start')))}</td><td>{esc(stamp(w.get('end')))}</td>"
        f"<td>{esc(w.get('rows'))}</td><td>"
        f"{esc(', '.join('v' + str(v) for v in w.get('model_versions') or []))}</td>"
        + "".join(f"<td>{fixed((w.get('metrics') or {}).get(n))}</td>" for n in names)
        + "</tr>"
        for w in reversed(windows)
    )
    cols = "".join(f"<th>{esc(n)}</th>" for n in names)
    return (
        f'<section id="quality">{head}<p class="caption">{esc(metric)} per window of '
        f"{esc(quality.get('window_rows') if quality else '-')} labelled rows "
        f"({esc(quality.get('labelled_rows') if quality else 0)} labelled in all).</p>"
        f'{line_chart(points, metric)}<table class="quality"><thead><tr><th>from</th>'
        f"<th>to</th><th>rows</th><th>model</th>{cols}</tr></thead><tbody>{rows}</tbody>"
        "</table></section>"
    )


def render_dashboard(facts: Mapping[str, Any], refresh_s: int = 15) -> str:
    """The whole page."""
    now = parse_time(facts.get("generated_at"))
    model = facts.get("model") or {}
    title = f"driftloop · model v{model['version']}" if model.get("version") else "driftloop"
    pill = (
        f'<span id="serving-pill" class="pill good">serving v{esc(model["version"])}</span>'
        if model.get("version")
        else '<span id="serving-pill" class="pill bad">no model</span>'
    )
    errors = "".join(f"<li>{esc(e)}</li>" for e in facts.get("errors") or [])
    noscript = (
        f'<noscript><meta http-equiv="refresh" content="{refresh_s}"></noscript>'
        if refresh_s
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/static/dashboard.css">{noscript}
<script src="/dashboard/static/dashboard.js" defer></script></head>
<body data-refresh="{refresh_s}"><header><h1>driftloop</h1>{pill}
<span id="refresh-status" class="muted">updated {esc(hms(facts.get("generated_at")))} UTC</span>
<button id="refresh-toggle" type="button" hidden>pause</button>
<nav><a href="/docs">API docs</a><a href="/dashboard/data">data (JSON)</a>
<a href="/metrics">metrics</a></nav></header>
<main id="content" data-generated-at="{esc(facts.get("generated_at"))}">
{f'<ul class="errors">{errors}</ul>' if errors else ""}
<div class="cards">{model_card(facts.get("model"), now)}{traffic_card(facts.get("traffic"))}
{policy_card(facts.get("policy"), facts.get("monitor"))}</div>
{drift_section(facts.get("windows") or [], facts.get("policy"))}
{estimate_section(facts.get("windows") or [])}
{timeline_section(facts.get("timeline") or [])}
{quality_section(facts.get("quality"))}
<footer class="muted">{esc(facts.get("source"))} · generated {esc(stamp(now))}</footer>
</main></body></html>
"""
