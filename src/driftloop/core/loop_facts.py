"""The facts of the loop as JSON-ready dicts: the serving model, the checked windows, the
timeline of drift events, retrains and gate decisions, live quality on labelled rows.

Pure: records read from the store or the registry go in, dicts come out (the reading is
in ``driftloop.jobs.status``). The dashboard page and ``driftloop status`` show them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from driftloop.config.spec import DatasetSpec
from driftloop.core.metrics import classification_metrics, regression_metrics
from driftloop.core.retraining import join_feedback
from driftloop.core.statuses import (
    FINAL_EVENT,
    GATE_PASSED,
    RETRAIN_PREFIX,
    EventStatus,
    RetrainStatus,
    retrain_status,
)

QUALITY_WINDOWS = 12
"""Newest labelled windows shown."""
TIMELINE_LIMIT = 40
"""Newest timeline entries shown."""
_STARTED = (EventStatus.RETRAIN_RUNNING, EventStatus.RETRAIN_STARTED)


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def clean_float(value: Any) -> float | None:
    """A float for JSON: NaN, infinities and non-numbers become None."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metrics_from_tags(tags: Mapping[str, str]) -> dict[str, float]:
    """The ``valid_*`` / ``test_*`` metrics a model version carries as tags."""
    out: dict[str, float] = {}
    for key, value in sorted(tags.items()):
        if key.startswith(("valid_", "test_")) and (f := clean_float(value)) is not None:
            out[key] = f
    return out


def model_facts(status: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """The serving model from a holder's status (or a registry version), with "since when":
    when it was promoted (a retrain's gate), else when this process loaded it."""
    facts = {k: status.get(k) for k in (
        "name", "version", "loaded", "dataset_version", "candidate", "kind", "fast_path",
        "loaded_at", "champion_version", "last_reload_error")}  # fmt: skip
    facts["metrics"] = dict(status.get("metrics") or metrics_from_tags(tags))
    facts["promoted_at"] = tags.get("promoted_at")
    facts["replaced_version"] = tags.get("replaced_version") or None
    facts["since"] = facts["promoted_at"] or facts["loaded_at"]
    facts["since_what"] = "promoted" if facts["promoted_at"] else (
        "loaded" if facts["loaded_at"] else None)  # fmt: skip
    return facts


def policy_facts(spec: DatasetSpec) -> dict[str, Any]:
    """The drift policy the windows are judged by (the chart draws ``drift_share``)."""
    d = spec.drift
    return {"drift_share": d.drift_share, "threshold": d.threshold, "min_rows": d.min_rows,
            "window_rows": d.window_rows, "consecutive_windows": d.consecutive_windows,
            "cooldown_s": d.cooldown_s, "key_features": list(d.key_features),
            "metric": spec.metric}  # fmt: skip


def estimate_facts(estimate: Mapping[str, Any] | None) -> dict[str, Any]:
    """The spec metric estimated (no labels) and realised (labelled rows) on a checked window."""
    if not estimate:
        return {"metric": None, "estimated": None, "realised": None, "labelled_rows": 0}
    metric = estimate.get("metric")
    return {"metric": metric,
            "estimated": clean_float((estimate.get("estimated") or {}).get(metric)),
            "realised": clean_float((estimate.get("realised") or {}).get(metric)),
            "labelled_rows": estimate.get("labelled_rows", 0)}  # fmt: skip


def window_from_report(data: Mapping[str, Any]) -> dict[str, Any]:
    """One checked window from a report's ``drift.json``."""
    summary = data.get("summary") or {}
    decision = data.get("decision") or {}
    window = data.get("window") or {}
    return {
        "report_id": data.get("report_id"),
        "checked_at": data.get("checked_at"),
        "drift_share": clean_float(summary.get("drift_share")),
        "window_drifted": bool(decision.get("window_drifted")),
        "retrain": bool(decision.get("retrain")),
        "model_version": data.get("model_version"),
        "rows": window.get("rows"),
        "drifted_features": list(summary.get("drifted_features") or []),
        "reason": data.get("reason"),
        "html": bool(data.get("report_uri")),
        **estimate_facts(data.get("estimated_performance")),
    }


def _gate_entry(retrain: Mapping[str, Any], at: str | None) -> dict[str, Any] | None:
    gate = retrain.get("gate")
    if not gate:
        return None
    status = retrain.get("status")
    outcome = RetrainStatus.PROMOTED if status == RetrainStatus.PROMOTED else (
        GATE_PASSED if gate.get("promote") else RetrainStatus.REJECTED)  # fmt: skip
    return {
        "at": at, "kind": "gate", "id": retrain.get("retrain_id"), "outcome": outcome,
        "detail": gate.get("reason") or "", "report_id": None,
        "scores": {"metric": gate.get("metric"),
                   "challenger": clean_float(gate.get("challenger_score")),
                   "champion": clean_float(gate.get("champion_score")),
                   "challenger_version": gate.get("challenger_version"),
                   "champion_version": gate.get("champion_version"),
                   "margin": gate.get("margin"), "rows": gate.get("evaluation_rows"),
                   **({"interval": gate["interval"]} if gate.get("interval") else {})},
    }  # fmt: skip


def _retrain_entry(
    retrain: Mapping[str, Any] | None, at: str | None, rid: str, outcome: str, error: str = ""
) -> dict[str, Any]:
    r = retrain or {}
    parts = []
    if r.get("challenger_version"):
        parts.append(f"challenger v{r['challenger_version']} vs champion "
                     f"v{r.get('champion_version')}")  # fmt: skip
    if r.get("rows"):
        parts.append(", ".join(f"{k} {v}" for k, v in r["rows"].items()))
    if r.get("reason") and not r.get("gate"):
        parts.append(str(r["reason"]))
    if error:
        parts.append(error)
    return {"at": at, "kind": "retrain", "id": rid, "outcome": outcome,
            "detail": "; ".join(parts), "report_id": None, "scores": None}  # fmt: skip


def build_timeline(
    events: Iterable[Mapping[str, Any]],
    retrains: Iterable[Mapping[str, Any]],
    limit: int = TIMELINE_LIMIT,
) -> list[dict[str, Any]]:
    """Drift events, the retrains they started and the gate's decisions, newest first.

    An event's retrain is found by id (a retrain started by an event has the event's id);
    retrains started by hand appear on their own.
    """
    by_id = {str(r.get("retrain_id")): r for r in retrains}
    entries: list[dict[str, Any]] = []
    for record in events:
        event_id = str(record.get("event_id"))
        ev = record.get("event") or {}
        history = list(record.get("history") or [])
        first_at = history[0].get("at") if history else record.get("updated_at")
        score = clean_float(ev.get("drift_score"))
        features = ", ".join(ev.get("drifted_features") or []) or "-"
        detail = (f"drift share {score:.1%}" if score is not None else "drift") + (
            f" on model v{ev.get('model_version')}; drifted: {features}; "
            f"source {ev.get('source', '?')}")  # fmt: skip
        entries.append({"at": ev.get("created_at") or first_at, "kind": "drift-event",
                        "id": event_id, "outcome": str(record.get("status", "?")),
                        "detail": detail, "report_id": ev.get("report_id"),
                        "scores": None})  # fmt: skip
        steps = [h for h in history if str(h.get("what", "")).startswith(RETRAIN_PREFIX)]
        if not steps and event_id not in by_id:
            continue
        retrain = by_id.pop(event_id, None)
        final = next((h for h in reversed(steps) if h["what"] in FINAL_EVENT), None)
        if retrain is None and final is not None and isinstance(final.get("result"), dict):
            retrain = final["result"]
        started = next((h for h in steps if h["what"] in _STARTED),
                       steps[0] if steps else None)  # fmt: skip
        outcome = (str(retrain_status(final["what"])) if final
                   else (retrain or {}).get("status") or RetrainStatus.RUNNING)  # fmt: skip
        end_at = final.get("at") if final else (retrain or {}).get("finished_at")
        entries.append(
            _retrain_entry(
                retrain,
                (started or {}).get("at") or end_at,
                event_id,
                outcome,
                str((final or {}).get("error") or ""),
            )
        )
        if retrain is not None and (gate := _gate_entry(retrain, end_at)) is not None:
            entries.append(gate)
    for rid, retrain in by_id.items():  # retrains not started by an event
        at = retrain.get("finished_at")
        entries.append(_retrain_entry(retrain, at, rid, str(retrain.get("status", "?"))))
        if (gate := _gate_entry(retrain, at)) is not None:
            entries.append(gate)
    order = {"gate": 0, "retrain": 1, "drift-event": 2}  # at equal times, effect before cause
    entries.sort(key=lambda e: (str(e.get("at") or ""), -order[e["kind"]]), reverse=True)
    return entries[:limit]


def live_quality(
    log: pd.DataFrame,
    feedback: pd.DataFrame,
    spec: DatasetSpec,
    window_rows: int,
    max_windows: int = QUALITY_WINDOWS,
) -> dict[str, Any]:
    """The model's quality on labelled production rows, per window of ``window_rows``
    labelled rows (newest window full, oldest possibly partial), oldest first."""
    out: dict[str, Any] = {"metric": spec.metric, "window_rows": window_rows,
                           "labelled_rows": 0, "windows": []}  # fmt: skip
    labelled = join_feedback(log, feedback, spec)
    if labelled.empty:
        return out
    score_col = "probability" if spec.is_classification else "prediction"
    if score_col not in log.columns:
        return out
    scored = log[["request_id", score_col, "model_version"]].drop_duplicates(
        "request_id", keep="last")  # fmt: skip
    rows = labelled.merge(scored, on="request_id", how="inner").sort_values("ts")
    rows = rows[pd.to_numeric(rows[score_col], errors="coerce").notna()]
    out["labelled_rows"] = len(rows)
    ends = list(range(len(rows), 0, -window_rows))[:max_windows]
    for end in reversed(ends):
        chunk = rows.iloc[max(0, end - window_rows) : end]
        y = chunk[spec.target].to_numpy()
        pred = pd.to_numeric(chunk[score_col]).to_numpy(dtype=float)
        metrics = classification_metrics(y, pred) if spec.is_classification else (
            regression_metrics(y, pred))  # fmt: skip
        ts = pd.to_datetime(chunk["ts"], utc=True)
        out["windows"].append({
            "start": ts.min().isoformat(timespec="seconds"),
            "end": ts.max().isoformat(timespec="seconds"), "rows": len(chunk),
            "model_versions": sorted({str(v) for v in chunk["model_version"].dropna()}),
            "metrics": {k: clean_float(v) for k, v in metrics.items()},
        })  # fmt: skip
    return out
