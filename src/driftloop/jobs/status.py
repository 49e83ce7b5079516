"""``driftloop status``: gather the facts of the loop and show them as Rich tables.

Locally the facts come from the state folder (registry champion, drift reports, events,
retrains, inference log and feedback); for a running server they come from its
``GET /dashboard/data``, which the server builds with the same functions (its traffic
from its own metrics). ``gather_store_facts`` is shared with the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from driftloop.adapters.reports import read_report, report_ids
from driftloop.adapters.store import ObjectStore, StoreUnavailableError
from driftloop.config.errors import DriftloopError, InputError, NotFoundError
from driftloop.config.spec import DatasetSpec
from driftloop.core.loop_facts import (
    build_timeline,
    clean_float,
    live_quality,
    model_facts,
    now_iso,
    policy_facts,
    window_from_report,
)
from driftloop.core.traffic import log_traffic

WINDOW_LIMIT = 60
"""Newest drift windows shown."""
QUALITY_LOG_ROWS = 20_000
"""Newest inference-log rows read to join with feedback."""
# Errors one part of the facts can fail with; the other parts are still shown.
# (the store raises its own errors, StoreUnavailableError or NotFoundError; ValueError is a
# half-written or foreign JSON object; KeyError and TypeError a record of another shape)
PART_ERRORS = (DriftloopError, StoreUnavailableError, ValueError, KeyError, TypeError)


def read_windows(
    store: ObjectStore, limit: int = WINDOW_LIMIT, known: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The newest checked windows, oldest first. Reports never change once written, so a
    caller may pass ``known`` (report id -> window) to skip re-reading them."""
    out = []
    for report_id in reversed(report_ids(store, limit)):
        if known is not None and report_id in known:
            out.append(known[report_id])
            continue
        try:
            data = read_report(store, report_id)
        except (NotFoundError, ValueError):
            continue  # deleted or half-written meanwhile: the next read shows it
        if data.get("summary") is None:
            continue
        window = window_from_report({"report_id": report_id, **data})
        if known is not None:
            known[report_id] = window
        out.append(window)
    return out


def read_retrains(store: ObjectStore) -> list[dict[str, Any]]:
    """Every ``retrains/<id>.json``, with ``finished_at`` from the object's time if absent."""
    out = []
    for key in store.iter_prefix("retrains/", ".json"):
        try:
            data = dict(store.read_json(key))
        except (NotFoundError, ValueError):
            continue
        if not data.get("finished_at"):
            data["finished_at"] = _modified(store, key)
        out.append(data)
    return out


def _modified(store: ObjectStore, key: str) -> str | None:
    stamp = store.modified(key)
    return None if stamp is None else stamp.isoformat(timespec="seconds")


def read_live_quality(store: ObjectStore, spec: DatasetSpec) -> dict[str, Any]:
    """``live_quality`` over the newest logged rows and their feedback, windows of the
    policy's ``min_rows`` (the smallest window it trusts)."""
    from driftloop.adapters.production_data import read_feedback, read_inference_log

    log = read_inference_log(store, limit_rows=QUALITY_LOG_ROWS)
    since = pd.to_datetime(log["ts"], utc=True).min() if len(log) else None
    feedback = read_feedback(store, since=since.to_pydatetime() if since is not None else None)
    return live_quality(log, feedback, spec, spec.drift.min_rows)


def gather_store_facts(
    store: ObjectStore, spec: DatasetSpec | None, known_windows: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Windows, timeline and live quality from the store; a part that fails is left empty
    and its error listed, so one unreadable part does not hide the others."""
    from driftloop.adapters.event_records import read_events

    facts: dict[str, Any] = {"windows": [], "timeline": [], "quality": None, "errors": []}
    try:
        facts["windows"] = read_windows(store, known=known_windows)
    except PART_ERRORS as exc:
        facts["errors"].append(f"drift windows: {exc}")
    try:
        facts["timeline"] = build_timeline(read_events(store), read_retrains(store))
    except PART_ERRORS as exc:
        facts["errors"].append(f"timeline: {exc}")
    if spec is not None:
        try:
            facts["quality"] = read_live_quality(store, spec)
        except PART_ERRORS as exc:
            facts["errors"].append(f"live quality: {exc}")
    return facts


def gather_local_status(
    settings: Any, spec: DatasetSpec | None, store: ObjectStore, tracker: Any
) -> dict[str, Any]:
    """The facts from a state folder: registry champion, store, inference log."""
    from driftloop.adapters.production_data import read_inference_log

    facts = gather_store_facts(store, spec)
    facts.update(generated_at=now_iso(), source=f"local {store.url}",
                 policy=policy_facts(spec) if spec else None, monitor=None)  # fmt: skip
    try:
        info = tracker.alias_version("champion")
    except PART_ERRORS as exc:
        info = None
        facts["errors"].append(f"registry: {exc}")
    facts["model"] = None if info is None else model_facts(
        {"name": info.name, "version": info.version, "loaded": None,
         "dataset_version": info.dataset_version, "candidate": info.tags.get("candidate"),
         "kind": info.tags.get("kind"), "champion_version": info.version}, info.tags)  # fmt: skip
    try:
        now = datetime.now(UTC)
        log = read_inference_log(store, since=now - timedelta(hours=1))
        facts["traffic"] = log_traffic(log, 60, now)
    except PART_ERRORS as exc:
        facts["traffic"] = None
        facts["errors"].append(f"traffic: {exc}")
    return facts


def fetch_remote_status(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The facts a running server reports at ``GET <url>/dashboard/data``."""
    import httpx

    endpoint = url.rstrip("/").removesuffix("/dashboard") + "/dashboard/data"
    try:
        response = httpx.get(endpoint, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DriftloopError(f"cannot reach {endpoint}: {exc}") from None
    if response.status_code == 404:
        raise InputError(f"{endpoint} not found: is {url} a driftloop server with a dashboard?")
    if response.status_code != 200:
        raise DriftloopError(f"{endpoint} answered HTTP {response.status_code}: "
                             f"{response.text[:200]}")  # fmt: skip
    return dict(response.json())


# -- the terminal view ---------------------------------------------------------------------
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


def status_view(facts: Mapping[str, Any], rows: int = 10) -> Any:
    """The facts as Rich tables: model, drift windows, timeline, traffic, live quality."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text(f"driftloop status from {facts.get('source')} at "
                             f"{_when(facts.get('generated_at'))}", style="bold")]  # fmt: skip
    model = facts.get("model")
    t = Table(title="serving model", show_header=False)
    if model is None:
        t.add_row("model", "[yellow]no champion[/]")
    else:
        t.add_row("model", f"{model.get('name')} v{model.get('version')}")
        t.add_row(f"since ({model.get('since_what') or '-'})", _when(model.get("since")))
        t.add_row("dataset version", str(model.get("dataset_version") or "-"))
        t.add_row("candidate", f"{model.get('candidate') or '-'} ({model.get('kind') or '-'})")
        if model.get("fast_path"):
            t.add_row("fast path", str(model["fast_path"]))
        for k, v in (model.get("metrics") or {}).items():
            t.add_row(k, _num(v))
        if model.get("last_reload_error"):
            t.add_row("[red]last reload error[/]", str(model["last_reload_error"].get("error")))
    parts.append(t)

    policy = facts.get("policy") or {}
    t = Table(title=f"drift windows (retrain share >= {_pct(policy.get('drift_share'))})")
    windows = list(facts.get("windows") or [])[-rows:]
    metric = next((w["metric"] for w in reversed(windows) if w.get("metric")), "metric")
    numeric = ("rows", "drift share", f"estimated {metric}", f"realised {metric}")
    for col in ("checked at", "report", "model", "rows", "drift share", "window", "decision",
                *numeric[2:]):  # fmt: skip
        t.add_column(col, justify="right" if col in numeric else "left")
    for w in windows:
        real = "-" if w.get("realised") is None else \
            f"{_num(w['realised'])} ({w.get('labelled_rows')})"  # fmt: skip
        t.add_row(_when(w.get("checked_at")), str(w.get("report_id")),
                  f"v{w.get('model_version')}", str(w.get("rows")), _pct(w.get("drift_share")),
                  "[red]drifted[/]" if w.get("window_drifted") else "ok",
                  "[bold red]retrain[/]" if w.get("retrain") else "-",
                  _num(w.get("estimated")), real)  # fmt: skip
    parts.append(t)

    t = Table(title="drift events, retrains and gate decisions")
    for col in ("at", "what", "id", "outcome", "details"):
        t.add_column(col)
    for e in list(facts.get("timeline") or [])[:rows]:
        detail = e.get("detail") or ""
        if (s := e.get("scores")) is not None:
            detail = (f"{s.get('metric')}: challenger v{s.get('challenger_version')} "
                      f"{_num(s.get('challenger'))} vs champion v{s.get('champion_version')} "
                      f"{_num(s.get('champion'))} on {s.get('rows')} rows")  # fmt: skip
        t.add_row(_when(e.get("at")), str(e.get("kind")), str(e.get("id"))[:14],
                  str(e.get("outcome")), detail)  # fmt: skip
    parts.append(t)

    traffic = facts.get("traffic")
    t = Table(title=f"traffic ({(traffic or {}).get('basis', 'unknown')})", show_header=False)
    if traffic:
        lat = traffic.get("latency_ms") or {}
        rate = clean_float(traffic.get("request_rate"))
        t.add_row("requests/s", "-" if rate is None else f"{rate:.2f}")
        t.add_row("predictions/s", _num(traffic.get("prediction_rate"), 2))
        t.add_row("errors (5xx)", _pct(traffic.get("error_rate")))
        t.add_row("latency p50 / p95 ms", f"{_num(lat.get('p50'), 2)} / {_num(lat.get('p95'), 2)}")
        values = traffic.get("prediction_values")
        if values is not None:
            q = values.get("quantiles") or {}
            t.add_row(f"predicted values ({values.get('count')})",
                      "  ".join(f"{k} {_num(v, 3)}" for k, v in q.items()) or "-")  # fmt: skip
        else:
            mix = traffic.get("class_mix") or {}
            t.add_row("predicted classes", ", ".join(f"{k} {v}" for k, v in mix.items()) or "-")
    parts.append(t)

    quality = facts.get("quality") or {}
    metric = quality.get("metric") or policy.get("metric") or "-"
    t = Table(title=f"live quality on labelled rows ({quality.get('labelled_rows', 0)} rows)")
    for col in ("window end", "rows", "model", metric):
        t.add_column(col, justify="right" if col in ("rows", metric) else "left")
    for w in list(quality.get("windows") or [])[-rows:]:
        t.add_row(_when(w.get("end")), str(w.get("rows")),
                  ", ".join(f"v{v}" for v in w.get("model_versions") or []),
                  _num((w.get("metrics") or {}).get(metric)))  # fmt: skip
    parts.append(t)
    parts.extend(Text(f"could not read {e}", style="yellow") for e in facts.get("errors") or [])
    return Group(*parts)
