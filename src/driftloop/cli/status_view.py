"""``driftloop status`` in the terminal: the loop's facts (``jobs.status``) as Rich tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from driftloop.core.gate import interval_text
from driftloop.core.loop_facts import clean_float


def _pct(value: Any) -> str:
    f = clean_float(value)
    return "-" if f is None else f"{f:.1%}"


def _num(value: Any, digits: int = 4) -> str:
    f = clean_float(value)
    return "-" if f is None else f"{f:.{digits}f}"


def _when(value: Any) -> str:
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "-")
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z" if t.tzinfo else f"{t:%Y-%m-%d %H:%M:%S}"


def status_view(facts: Mapping[str, Any], rows: int = 10) -> Group:
    """The facts as Rich tables: model, drift windows, timeline, traffic, live quality."""
    policy = facts.get("policy") or {}
    header = Text(
        f"driftloop status from {facts.get('source')} at {_when(facts.get('generated_at'))}",
        style="bold",
    )
    parts: list[Any] = [
        header,
        _model_table(facts.get("model")),
        _windows_table(list(facts.get("windows") or [])[-rows:], policy),
        _timeline_table(list(facts.get("timeline") or [])[:rows]),
        _traffic_table(facts.get("traffic")),
        _quality_table(facts.get("quality") or {}, policy, rows),
    ]
    parts.extend(Text(f"could not read {e}", style="yellow") for e in facts.get("errors") or [])
    return Group(*parts)


def _model_table(model: Mapping[str, Any] | None) -> Table:
    t = Table(title="serving model", show_header=False)
    if model is None:
        t.add_row("model", "[yellow]no champion[/]")
        return t
    t.add_row("model", f"{model.get('name')} v{model.get('version')}")
    t.add_row(f"since ({model.get('since_what') or '-'})", _when(model.get("since")))
    t.add_row("dataset version", str(model.get("dataset_version") or "-"))
    t.add_row("candidate", f"{model.get('candidate') or '-'} ({model.get('kind') or '-'})")
    if model.get("fast_path"):
        t.add_row("fast path", str(model["fast_path"]))
    if model.get("origin"):
        t.add_row("champion from", _origin(model["origin"]))
    for k, v in (model.get("metrics") or {}).items():
        t.add_row(k, _num(v))
    if model.get("last_reload_error"):
        t.add_row("[red]last reload error[/]", str(model["last_reload_error"].get("error")))
    return t


def _origin(origin: Mapping[str, Any]) -> str:
    """Where the champion was read: the store's record (a copy of the registry's alias,
    who copied it and when) or the registry itself."""
    if origin.get("from") != "record":
        return "the registry (no champion record in the store yet)"
    return (f"the store's champion record, copied from the registry by "
            f"{origin.get('written_by')} at {_when(origin.get('written_at'))}")  # fmt: skip


def _windows_table(windows: list[Mapping[str, Any]], policy: Mapping[str, Any]) -> Table:
    t = Table(title=f"drift windows (retrain share >= {_pct(policy.get('drift_share'))})")
    metric = next((w["metric"] for w in reversed(windows) if w.get("metric")), "metric")
    numeric = ("rows", "drift share", f"estimated {metric}", f"realised {metric}")
    for col in ("checked at", "report", "model", "rows", "drift share", "window", "decision",
                *numeric[2:]):  # fmt: skip
        t.add_column(col, justify="right" if col in numeric else "left")
    for w in windows:
        real = "-" if w.get("realised") is None else \
            f"{_num(w['realised'])} ({w.get('labelled_rows')})"  # fmt: skip
        t.add_row(
            _when(w.get("checked_at")),
            str(w.get("report_id")),
            f"v{w.get('model_version')}",
            str(w.get("rows")),
            _pct(w.get("drift_share")),
            "[red]drifted[/]" if w.get("window_drifted") else "ok",
            "[bold red]retrain[/]" if w.get("retrain") else "-",
            _num(w.get("estimated")),
            real,
        )
    return t


def _timeline_table(entries: list[Mapping[str, Any]]) -> Table:
    t = Table(title="drift events, retrains and gate decisions")
    for col in ("at", "what", "id", "outcome", "details"):
        t.add_column(col)
    for e in entries:
        detail = e.get("detail") or ""
        if (s := e.get("scores")) is not None:
            detail = (
                f"{s.get('metric')}: challenger v{s.get('challenger_version')} "
                f"{_num(s.get('challenger'))} vs champion v{s.get('champion_version')} "
                f"{_num(s.get('champion'))} on {s.get('rows')} rows"
            )
            if s.get("interval"):
                detail += f"; {interval_text(s['interval'])}"
        t.add_row(
            _when(e.get("at")), str(e.get("kind")), str(e.get("id"))[:14], str(e.get("outcome")),
            detail,
        )  # fmt: skip
    return t


def _traffic_table(traffic: Mapping[str, Any] | None) -> Table:
    t = Table(title=f"traffic ({(traffic or {}).get('basis', 'unknown')})", show_header=False)
    if not traffic:
        return t
    lat = traffic.get("latency_ms") or {}
    rate = clean_float(traffic.get("request_rate"))
    t.add_row("requests/s", "-" if rate is None else f"{rate:.2f}")
    t.add_row("predictions/s", _num(traffic.get("prediction_rate"), 2))
    t.add_row("errors (5xx)", _pct(traffic.get("error_rate")))
    t.add_row("latency p50 / p95 ms", f"{_num(lat.get('p50'), 2)} / {_num(lat.get('p95'), 2)}")
    values = traffic.get("prediction_values")
    if values is not None:  # a regressor: quantiles, never a count per value
        q = values.get("quantiles") or {}
        t.add_row(f"predicted values ({values.get('count')})",
                  "  ".join(f"{k} {_num(v, 3)}" for k, v in q.items()) or "-")  # fmt: skip
    else:
        mix = traffic.get("class_mix") or {}
        t.add_row("predicted classes", ", ".join(f"{k} {v}" for k, v in mix.items()) or "-")
    return t


def _quality_table(quality: Mapping[str, Any], policy: Mapping[str, Any], rows: int) -> Table:
    metric = quality.get("metric") or policy.get("metric") or "-"
    t = Table(title=f"live quality on labelled rows ({quality.get('labelled_rows', 0)} rows)")
    for col in ("window end", "rows", "model", metric):
        t.add_column(col, justify="right" if col in ("rows", metric) else "left")
    for w in list(quality.get("windows") or [])[-rows:]:
        t.add_row(
            _when(w.get("end")),
            str(w.get("rows")),
            ", ".join(f"v{v}" for v in w.get("model_versions") or []),
            _num((w.get("metrics") or {}).get(metric)),
        )
    return t
