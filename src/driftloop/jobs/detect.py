"""``driftloop detect``: compare a production window with the serving model's reference.

Writes ``reports/<id>/drift.html`` (Evidently) and ``reports/<id>/drift.json`` (driftloop's
per-feature verdicts, Evidently's, the other signals — prediction drift, realised performance
on labelled rows — and the retrain decision), and on a retrain decision can emit a signed
drift event. The in-server monitor runs the same function.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import open_dataset, read_frame_at
from driftloop.adapters.event_records import read_events
from driftloop.adapters.reports import (
    new_report_id,
    read_report,
    report_ids,
    report_uri,
    write_report,
)
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.errors import InputError, NotFoundError
from driftloop.config.settings import Settings
from driftloop.config.spec import DatasetSpec
from driftloop.core.drift_stats import DriftSummary, compute_drift
from driftloop.core.null_thresholds import NullThreshold
from driftloop.core.performance import PerformanceCheck
from driftloop.core.policy import RetrainDecision, SignalVerdict, alarms_of, decide_retrain
from driftloop.events.delivery import emit_event
from driftloop.events.model import DriftEvent, DriftWindow, Receipt
from driftloop.jobs.detect_signals import (
    as_calibration,
    calibrated_thresholds,
    check_performance,
    prediction_drift,
)
from driftloop.jobs.estimate import estimate_window

log = logging.getLogger("driftloop.detect")
HISTORY_WINDOWS = 10


@dataclass
class DetectResult:
    """One drift check."""

    report_id: str | None
    report_uri: str | None
    model_version: str | None
    dataset_version: str | None
    window: DriftWindow
    summary: DriftSummary | None
    decision: RetrainDecision | None
    reason: str
    seconds: float = 0.0
    event: Receipt | None = None
    estimated_performance: dict[str, Any] | None = None
    """Estimated next to realised metrics of the serving model on the window (jobs.estimate)."""
    performance: PerformanceCheck | None = None
    thresholds: dict[str, NullThreshold] = field(default_factory=dict)
    """Calibrated per-feature thresholds (calibrated mode)."""

    @property
    def retrain(self) -> bool:
        """True when the policy decided to retrain."""
        return bool(self.decision and self.decision.retrain)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what drift.json and GET /drift hold)."""
        return {
            "report_id": self.report_id,
            "report_uri": self.report_uri,
            "model_version": self.model_version,
            "dataset_version": self.dataset_version,
            "window": self.window.model_dump(),
            "summary": self.summary.to_dict() if self.summary else None,
            "decision": self.decision.to_dict() if self.decision else None,
            "estimated_performance": self.estimated_performance,
            "reason": self.reason,
            "performance": self.performance.to_dict() if self.performance else None,
            "calibration": {
                "mode": self.summary.mode if self.summary else None,
                "thresholds": {k: v.to_dict() for k, v in self.thresholds.items()},
            },
            "seconds": self.seconds,
            "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "event": None
            if self.event is None or self.event.event is None
            else {
                "event_id": self.event.event.event_id,
                "status": self.event.status,
                "reason": self.event.reason,
            },
        }


def _window(frame: pd.DataFrame) -> DriftWindow:
    if "ts" in frame.columns and len(frame):
        ts = pd.to_datetime(frame["ts"], utc=True)
        return DriftWindow(rows=len(frame), start=ts.min().isoformat(), end=ts.max().isoformat())
    return DriftWindow(rows=len(frame))


def current_window(
    store: ObjectStore,
    window_rows: int,
    model_version: str | None,
    current_data_path: str = "",
) -> pd.DataFrame:
    """The newest logged rows served by the model version (or a given file)."""
    if current_data_path:
        return read_frame_at(current_data_path, store)
    from driftloop.adapters.production_data import read_inference_log

    logged = read_inference_log(store, limit_rows=window_rows, model_version=model_version)
    return logged.tail(window_rows).reset_index(drop=True)


def recent_history(store: ObjectStore, model_version: str | None) -> list[frozenset[str]]:
    """The alarms (signals that fired and are triggers) of the newest earlier reports for the
    same model version, oldest first."""
    verdicts: list[frozenset[str]] = []
    for report_id in report_ids(store):
        try:
            data = read_report(store, report_id)
        except (NotFoundError, ValueError):
            continue  # deleted or half-written meanwhile
        if data.get("model_version") != model_version or not data.get("decision"):
            continue
        verdicts.append(alarms_of(data["decision"]))
        if len(verdicts) >= HISTORY_WINDOWS:
            break
    return list(reversed(verdicts))


RETRAIN_STATUSES = frozenset(
    {"retrain-started", "retrain-running", "retrain-trained", "retrain-promoted",
     "retrain-rejected", "retrain-failed"}
)  # fmt: skip
"""Event-record steps that mean a retrain started or finished (not "retrain-skipped")."""


def _epoch(stamp: object) -> float | None:
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def last_retrain_time(store: ObjectStore) -> float | None:
    """When the newest retrain started or finished (epoch seconds), from the retrain steps
    of event records and the ``retrains/`` records. An event that only asks for a retrain
    (emitted, delivered, accepted) is not one: the workflow it starts re-checks drift
    seconds later and must not find itself cooling down."""
    from driftloop.jobs.status import read_retrains

    times = [
        _epoch(step.get("at"))
        for record in read_events(store, limit=20)
        for step in record.get("history") or []
        if step.get("what") in RETRAIN_STATUSES
    ]
    times += [
        _epoch(record["finished_at"])
        for record in read_retrains(store)
        if record.get("status") != "skipped" and record.get("finished_at")
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _reference(
    store: ObjectStore, dataset_version: str | None, reference_data_path: str
) -> pd.DataFrame:
    if reference_data_path:
        return read_frame_at(reference_data_path, store)
    if dataset_version is None:
        raise InputError("no champion and no --reference-data-path: nothing to compare with")
    return open_dataset(store, dataset_version).frame("reference")


def _write_report(
    store: ObjectStore,
    spec: DatasetSpec,
    result: DetectResult,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    report: bool,
    started: float,
) -> None:
    """drift.json (and with ``report``, Evidently's drift.html) under ``reports/<id>/``."""
    assert result.report_id is not None
    payload = result.to_dict()
    html = None
    if report:
        from driftloop.adapters.evidently_report import render_drift_report

        reference, current = frames
        mode = result.summary.mode if result.summary else spec.drift.mode
        note = (f"driftloop decided in {mode} mode: "
                + (f"per-feature thresholds holding alpha={spec.drift.alpha:g} at this window "
                   f"size, effect floor {spec.drift.min_effect:g}" if mode == "calibrated"
                   else f"one fixed threshold {spec.drift.threshold:g}"))  # fmt: skip
        rendered = render_drift_report(reference, current, spec.numeric_features,
                                       spec.categorical_features, spec.drift.threshold,
                                       thresholds={k: v.threshold
                                                   for k, v in result.thresholds.items()},
                                       note=note)  # fmt: skip
        html = rendered.html
        payload["evidently"] = {
            "columns": rendered.evidently_columns,
            "sampling": rendered.json.get("sampling"),
        }
    else:
        result.report_uri = None
        payload["report_uri"] = None
    result.seconds = time.perf_counter() - started
    payload["seconds"] = result.seconds
    write_report(store, result.report_id, payload, html)


def _thresholds(
    spec: DatasetSpec, store: ObjectStore, reference: pd.DataFrame, window_rows: int
) -> dict[str, NullThreshold] | None:
    """Calibrated per-feature thresholds at this window's size (None in threshold mode)."""
    if spec.drift.mode != "calibrated":
        return None
    return calibrated_thresholds(store, spec.drift, reference, spec.numeric_features,
                                 spec.categorical_features, window_rows)  # fmt: skip


def _other_signals(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    champion: ModelVersionInfo | None,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    summary: DriftSummary,
    from_file: bool,
) -> tuple[DriftSummary, list[SignalVerdict], PerformanceCheck | None]:
    """Prediction drift and realised performance beside the feature verdicts (both need the
    serving model; performance needs the inference log, not a ``--current-data-path`` file)."""
    signals: list[SignalVerdict] = []
    if champion is None:
        return summary, signals, None
    moved = prediction_drift(spec, store, tracker, champion, *frames)
    if moved is not None:
        summary = replace(summary, prediction=moved.drift)
        signals.append(moved.verdict)
    performance = None if from_file else check_performance(spec, store, champion)
    if performance is not None:
        signals.append(performance.verdict(spec.drift.performance))
    return summary, signals, performance


def detect_drift(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    window_rows: int | None = None,
    current_data_path: str = "",
    reference_data_path: str = "",
    report: bool = True,
) -> DetectResult:
    """Check one window, write the report, decide. Does not emit (see ``emit_for``)."""
    started = time.perf_counter()
    champion = tracker.alias_version("champion")
    model_version = champion.version if champion else None
    dataset_version = champion.dataset_version if champion else None
    reference = _reference(store, dataset_version, reference_data_path)
    current = current_window(
        store,
        window_rows or spec.drift.window_rows,
        model_version if not current_data_path else None,
        current_data_path,
    )
    window = _window(current)
    missing = [c for c in spec.features if c not in current.columns] if len(current) else []
    if missing:
        raise InputError(f"current data lacks feature columns: {', '.join(missing)}")
    if current.empty:
        return DetectResult(None, None, model_version, dataset_version, window, None, None,
                            "no logged production rows for the serving model yet",
                            time.perf_counter() - started)  # fmt: skip
    thresholds = _thresholds(spec, store, reference, len(current))
    summary = compute_drift(
        reference, current, spec.numeric_features, spec.categorical_features,
        spec.drift.threshold, as_calibration(thresholds) if thresholds is not None else None,
        spec.drift.min_category_rows,
    )  # fmt: skip
    summary, signals, performance = _other_signals(
        spec, store, tracker, champion, (reference, current), summary, bool(current_data_path)
    )
    estimate = estimate_window(spec, store, tracker, champion, current)
    now_champion = tracker.alias_version("champion")
    decision = decide_retrain(
        spec.drift,
        summary,
        recent_history(store, model_version),
        last_retrain_time(store),
        time.time(),
        signals=[*signals, estimate.verdict] if estimate else signals,
        served_version=model_version if not current_data_path else None,
        champion_version=now_champion.version if now_champion else None,
    )
    report_id = new_report_id()
    result = DetectResult(report_id, report_uri(store, report_id), model_version,
                          dataset_version, window, summary, decision,
                          "; ".join(decision.reasons), performance=performance,
                          thresholds=thresholds or {})  # fmt: skip
    if estimate is not None:
        result.estimated_performance = estimate.to_dict(spec.metric)
    _write_report(store, spec, result, (reference, current), report, started)
    log.info(
        "drift checked",
        extra={
            "report_id": report_id,
            "rows": len(current),
            "drift_share": round(summary.drift_share, 4),
            "fired": list(decision.fired),
            "superseded": decision.superseded,
            "retrain": decision.retrain,
        },
    )
    return result


def emit_for(
    result: DetectResult, settings: Settings, store: ObjectStore, source: str = "detect"
) -> Receipt | None:
    """Emit a signed drift event for a retrain decision (None when there is none)."""
    if not result.retrain or result.summary is None:
        return None
    event = DriftEvent(
        source=source,
        drift_score=result.summary.drift_share,
        drifted_features=list(result.summary.drifted_features),
        report_uri=result.report_uri,
        report_id=result.report_id,
        model_name=settings.model_name,
        model_version=result.model_version,
        dataset_version=result.dataset_version,
        window=result.window,
        data_dir=store.url,
    )
    result.event = emit_event(event, settings, store)
    return result.event
