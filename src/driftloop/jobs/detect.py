"""``driftloop detect``: compare a production window with the serving model's reference.

Writes ``reports/<day>/<id>/drift.html`` (Evidently) and ``drift.json`` (driftloop's
per-feature verdicts, Evidently's, the other signals — prediction drift, realised performance
on labelled rows — and the retrain decision), and on a retrain decision can emit a signed
drift event. The in-server monitor runs the same decision (``judge_window``,
``record_check``, ``emit_for``) in-process, on a reference it prepared once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from driftloop.adapters.datasets import open_dataset, read_frame_at
from driftloop.adapters.production_data import log_times
from driftloop.adapters.reports import (
    new_report_id,
    report_uri,
    write_report,
)
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo
from driftloop.config.errors import InputError
from driftloop.config.settings import Settings
from driftloop.config.spec import DatasetSpec
from driftloop.core.drift_confirm import confirm_drift
from driftloop.core.drift_reference import PreparedReference, prepare_reference
from driftloop.core.drift_verdict import DriftSummary
from driftloop.core.null_thresholds import NullThreshold
from driftloop.core.performance import PerformanceCheck
from driftloop.core.policy import RetrainDecision, SignalVerdict, decide_retrain
from driftloop.events.delivery import emit_event
from driftloop.events.model import DriftEvent, DriftWindow, Receipt
from driftloop.jobs.champion import TrackerSource, known_champion
from driftloop.jobs.detect_history import last_retrain_time, recent_history
from driftloop.jobs.detect_signals import (
    as_calibration,
    calibrated_thresholds,
    check_performance,
    confirm_settings,
    prediction_drift,
)
from driftloop.jobs.estimate import estimate_window

log = logging.getLogger("driftloop.detect")
HtmlWhen = Literal["now", "later", "never"]
"""When a check's Evidently HTML is rendered: with the check, from its kept rows later
(on demand or in the background), or never (``--no-report``)."""
STREAM_ROWS = 200_000
"""Windows larger than this are checked segment by segment (``jobs.large_window``)."""
_NO_REFERENCE = PreparedReference(0, 1.0, {}, {})
"""Stands in for a reference that an empty window is never compared with."""


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
        ts = log_times(frame["ts"])
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


def _reference(
    store: ObjectStore, dataset_version: str | None, reference_data_path: str
) -> pd.DataFrame:
    if reference_data_path:
        return read_frame_at(reference_data_path, store)
    if dataset_version is None:
        raise InputError("no champion and no --reference-data-path: nothing to compare with")
    return open_dataset(store, dataset_version).frame("reference")


def record_check(
    store: ObjectStore,
    spec: DatasetSpec,
    result: DetectResult,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    html: HtmlWhen,
    started: float,
) -> None:
    """Write a judged window's report and log the verdict (nothing for an empty window):
    drift.json under ``reports/<day>/<id>/``, with Evidently's drift.html (``now``) or the
    window's rows to render it from later (``later``: on demand, or asynchronously)."""
    if result.report_id is None or result.summary is None or result.decision is None:
        return
    payload = result.to_dict()
    rendered_html = None
    if html == "now":
        mode = result.summary.mode if result.summary else spec.drift.mode
        from driftloop.jobs.report_html import render_evidently, verdict_cuts

        cuts = verdict_cuts([f.to_dict() for f in result.summary.features],
                            {k: v.threshold for k, v in result.thresholds.items()})  # fmt: skip
        rendered = render_evidently(spec, frames, mode, cuts)
        rendered_html = rendered.html
        payload["evidently"] = {
            "columns": rendered.evidently_columns,
            "sampling": rendered.json.get("sampling"),
        }
    elif html == "never":
        result.report_uri = None
        payload["report_uri"] = None
    result.seconds = time.perf_counter() - started
    payload["seconds"] = result.seconds
    # the HTML needs the features only (not the request ids, times and outputs: most of a
    # window's bytes)
    window = (
        frames[1][[c for c in spec.features if c in frames[1].columns]] if html == "later" else None
    )
    write_report(store, result.report_id, payload, rendered_html, window)
    decision = result.decision
    log.info(
        "drift checked",
        extra={
            "report_id": result.report_id,
            "rows": result.window.rows,
            "drift_share": round(result.summary.drift_share, 4),
            "fired": list(decision.fired),
            "superseded": decision.superseded,
            "retrain": decision.retrain,
        },
    )


def window_thresholds(
    spec: DatasetSpec, store: ObjectStore, reference: pd.DataFrame, window_rows: int
) -> dict[str, NullThreshold] | None:
    """Calibrated per-feature thresholds at this window's size (None in threshold mode)."""
    if spec.drift.mode != "calibrated":
        return None
    return calibrated_thresholds(store, spec.drift, reference, spec.numeric_features,
                                 spec.categorical_features, window_rows)  # fmt: skip


def calibrated_reference(
    spec: DatasetSpec, prepared: PreparedReference, thresholds: dict[str, NullThreshold] | None
) -> PreparedReference:
    """The prepared reference deciding with these calibrated thresholds (as it is without)."""
    if thresholds is None:
        return prepared
    return replace(prepared, calibrated=as_calibration(thresholds),
                   min_category_rows=spec.drift.min_category_rows)  # fmt: skip


def _other_signals(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
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


@dataclass(frozen=True)
class Serving:
    """Who a window is judged for: the model version that served it (None: a file checked
    without a champion) and the champion now (a newer one supersedes the decision)."""

    model: ModelVersionInfo | None
    champion_now: str | None
    from_file: bool = False

    @property
    def versions(self) -> tuple[str | None, str | None]:
        m = self.model
        return (m.version, m.dataset_version) if m is not None else (None, None)


def judge_window(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
    reference: tuple[pd.DataFrame, PreparedReference],
    current: pd.DataFrame,
    serving: Serving,
    started: float,
) -> DetectResult:
    """Verdicts and decision for one window (nothing written): what ``detect`` and the
    in-server monitor both run. ``reference`` is the frame and its prepared statistics."""
    model_version, dataset_version = serving.versions
    window = _window(current)
    missing = [c for c in spec.features if c not in current.columns] if len(current) else []
    if missing:
        raise InputError(f"current data lacks feature columns: {', '.join(missing)}")
    if current.empty:
        return DetectResult(None, None, model_version, dataset_version, window, None, None,
                            "no logged production rows for the serving model yet",
                            time.perf_counter() - started)  # fmt: skip
    frame, prepared = reference
    thresholds = window_thresholds(spec, store, frame, len(current))
    prepared = calibrated_reference(spec, prepared, thresholds)
    summary = prepared.compare(current)
    found = None
    if thresholds is not None:  # screen by the cached null, confirm by an exact test
        summary, found = confirm_drift(summary, prepared, current, thresholds,
                                       confirm_settings(spec.drift))  # fmt: skip
    summary, signals, performance = _other_signals(
        spec, store, tracker, serving.model, (frame, current), summary, serving.from_file
    )
    estimate = estimate_window(spec, store, tracker, serving.model, current)
    if estimate is not None:
        signals = [*signals, estimate.verdict]
    decision = decide(spec, store, summary, serving, signals, found)
    result = judged(store, summary, window, serving.versions, decision)
    result.performance, result.thresholds = performance, thresholds or {}
    if estimate is not None:
        result.estimated_performance = estimate.to_dict(spec.metric)
    return result


def decide(
    spec: DatasetSpec,
    store: ObjectStore,
    summary: DriftSummary,
    serving: Serving,
    signals: list[SignalVerdict] | None = None,
    p_values: dict[str, float] | None = None,
) -> RetrainDecision:
    """The retrain decision on one window: the policy over the earlier windows of the same
    model version, the cool-down since the last retrain and the other signals (``p_values``:
    the calibrated features', which hold the feature signal to ``retrain_alpha``)."""
    model_version = serving.versions[0]
    return decide_retrain(
        spec.drift,
        summary,
        recent_history(store, model_version),
        last_retrain_time(store),
        time.time(),
        signals=signals or [],
        served_version=model_version if not serving.from_file else None,
        champion_version=serving.champion_now,
        p_values=p_values,
    )


def judged(
    store: ObjectStore,
    summary: DriftSummary,
    window: DriftWindow,
    versions: tuple[str | None, str | None],
    decision: RetrainDecision,
) -> DetectResult:
    """The result of a judged window, with a new report id."""
    report_id = new_report_id()
    return DetectResult(report_id, report_uri(store, report_id), versions[0], versions[1],
                        window, summary, decision, "; ".join(decision.reasons))  # fmt: skip


def prepare_for(spec: DatasetSpec, reference: pd.DataFrame) -> PreparedReference:
    """The spec's features of a reference, prepared for many windows."""
    return prepare_reference(reference, spec.numeric_features, spec.categorical_features,
                             spec.drift.threshold)  # fmt: skip


def detect_drift(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
    window_rows: int | None = None,
    current_data_path: str = "",
    reference_data_path: str = "",
    report: bool = True,
) -> DetectResult:
    """Check one window, write the report, decide. Does not emit (see ``emit_for``).
    Windows over ``STREAM_ROWS`` rows are read segment by segment (no HTML for them).
    The champion comes from its record in the store (``jobs.champion``): MLflow is opened
    only when the store does not know something yet."""
    started = time.perf_counter()
    champion = known_champion(store, tracker, "detect").info
    from_file = bool(current_data_path)
    versions = (champion.version, champion.dataset_version) if champion else (None, None)
    reference = _reference(store, versions[1], reference_data_path)
    rows = window_rows or spec.drift.window_rows
    if rows > STREAM_ROWS and not from_file:
        from driftloop.jobs.large_window import detect_streamed

        serving = Serving(champion, versions[0])
        streamed = (reference, prepare_for(spec, reference))
        return detect_streamed(spec, store, streamed, rows, serving, started)
    current = current_window(store, rows, versions[0] if not from_file else None,
                             current_data_path)  # fmt: skip
    prepared = prepare_for(spec, reference) if len(current) else _NO_REFERENCE
    now_champion = known_champion(store, tracker, "detect").info if len(current) else champion
    serving = Serving(champion, now_champion.version if now_champion else None, from_file)
    result = judge_window(spec, store, tracker, (reference, prepared), current, serving, started)
    record_check(store, spec, result, (reference, current), "now" if report else "never",
                 started)  # fmt: skip
    return result


def emit_for(
    result: DetectResult,
    settings: Settings,
    store: ObjectStore,
    source: str = "detect",
    run_locally: bool = True,
) -> Receipt | None:
    """Emit a signed drift event for a retrain decision (None when there is none);
    ``run_locally=False``: an event the local receiver accepts is left for the caller to
    run (``events.delivery.run_accepted_locally``)."""
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
    result.event = emit_event(event, settings, store, run_locally=run_locally)
    return result.event
