"""``driftloop detect``: compare a production window with the serving model's reference.

Writes ``reports/<day>/<id>/drift.html`` (Evidently) and ``drift.json`` (driftloop's
per-feature verdicts, Evidently's, and the retrain decision), and on a retrain decision can
emit a signed drift event. The in-server monitor runs the same decision (``judge_window``,
``record_check``, ``emit_for``) in-process, on a reference it prepared once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

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
from driftloop.adapters.retrain_records import read_retrains
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker
from driftloop.config.errors import InputError, NotFoundError
from driftloop.config.settings import Settings
from driftloop.config.spec import DatasetSpec
from driftloop.core.drift_stats import DriftSummary, PreparedReference, prepare_reference
from driftloop.core.policy import RetrainDecision, decide_retrain
from driftloop.events.delivery import emit_event
from driftloop.events.model import DriftEvent, DriftWindow, Receipt

log = logging.getLogger("driftloop.detect")
HtmlWhen = Literal["now", "later", "never"]
"""When a check's Evidently HTML is rendered: with the check, from its kept rows later
(on demand or in the background), or never (``--no-report``)."""
STREAM_ROWS = 200_000
"""Windows larger than this are checked segment by segment (``jobs.large_window``)."""
_NO_REFERENCE = PreparedReference(0, 1.0, {}, {})
"""Stands in for a reference that an empty window is never compared with."""
HISTORY_WINDOWS = 10
HISTORY_SCAN = 50
"""Newest reports read to find the earlier windows of the same model version."""


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
            "reason": self.reason,
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


def recent_history(store: ObjectStore, model_version: str | None) -> list[bool]:
    """Window verdicts of the newest earlier reports for the same model version, oldest first."""
    verdicts: list[bool] = []
    for report_id in report_ids(store, HISTORY_SCAN):
        try:
            data = read_report(store, report_id)
        except (NotFoundError, ValueError):
            continue  # deleted or half-written meanwhile
        if data.get("model_version") != model_version or not data.get("decision"):
            continue
        verdicts.append(bool(data["decision"]["window_drifted"]))
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
    html: HtmlWhen,
    started: float,
) -> None:
    """drift.json under ``reports/<day>/<id>/``, with Evidently's drift.html (``now``) or
    the window's rows to render it from later (``later``: on demand, or asynchronously)."""
    assert result.report_id is not None
    payload = result.to_dict()
    rendered_html = None
    if html == "now":
        from driftloop.adapters.evidently_report import render_drift_report

        reference, current = frames
        rendered = render_drift_report(reference, current, spec.numeric_features,
                                       spec.categorical_features, spec.drift.threshold)  # fmt: skip
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
    window = frames[1] if html == "later" else None
    write_report(store, result.report_id, payload, rendered_html, window)


def decide(
    spec: DatasetSpec, store: ObjectStore, summary: DriftSummary, model_version: str | None
) -> RetrainDecision:
    """The retrain decision on one window's verdicts: the policy over the earlier windows of
    the same model version and the cool-down since the last retrain."""
    return decide_retrain(spec.drift, summary, recent_history(store, model_version),
                          last_retrain_time(store), time.time())  # fmt: skip


def judge_window(
    spec: DatasetSpec,
    store: ObjectStore,
    reference: PreparedReference,
    current: pd.DataFrame,
    versions: tuple[str | None, str | None],
    started: float,
) -> DetectResult:
    """Verdicts and decision for one window (nothing written): what ``detect`` and the
    in-server monitor both run. ``versions`` is (model version, dataset version)."""
    model_version, dataset_version = versions
    window = _window(current)
    missing = [c for c in spec.features if c not in current.columns] if len(current) else []
    if missing:
        raise InputError(f"current data lacks feature columns: {', '.join(missing)}")
    if current.empty:
        return DetectResult(None, None, model_version, dataset_version, window, None, None,
                            "no logged production rows for the serving model yet",
                            time.perf_counter() - started)  # fmt: skip
    summary = reference.compare(current)
    return judged(store, summary, window, versions, decide(spec, store, summary, model_version))


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


def record_check(
    store: ObjectStore,
    spec: DatasetSpec,
    result: DetectResult,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    html: HtmlWhen,
    started: float,
) -> None:
    """Write a judged window's report and log the verdict (nothing for an empty window)."""
    if result.report_id is None or result.summary is None or result.decision is None:
        return
    _write_report(store, spec, result, frames, html, started)
    log.info(
        "drift checked",
        extra={
            "report_id": result.report_id,
            "rows": result.window.rows,
            "drift_share": round(result.summary.drift_share, 4),
            "retrain": result.decision.retrain,
        },
    )


def prepare_for(spec: DatasetSpec, reference: pd.DataFrame) -> PreparedReference:
    """The spec's features of a reference, prepared for many windows."""
    return prepare_reference(reference, spec.numeric_features, spec.categorical_features,
                             spec.drift.threshold)  # fmt: skip


def detect_drift(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    window_rows: int | None = None,
    current_data_path: str = "",
    reference_data_path: str = "",
    report: bool = True,
) -> DetectResult:
    """Check one window, write the report, decide. Does not emit (see ``emit_for``).
    Windows over ``STREAM_ROWS`` rows are read segment by segment (no HTML for them)."""
    started = time.perf_counter()
    champion = tracker.alias_version("champion")
    versions = (champion.version, champion.dataset_version) if champion else (None, None)
    reference = _reference(store, versions[1], reference_data_path)
    rows = window_rows or spec.drift.window_rows
    if rows > STREAM_ROWS and not current_data_path:
        from driftloop.jobs.large_window import detect_streamed

        return detect_streamed(spec, store, prepare_for(spec, reference), rows, versions, started)
    current = current_window(
        store, rows, versions[0] if not current_data_path else None, current_data_path
    )
    prepared = prepare_for(spec, reference) if len(current) else _NO_REFERENCE
    result = judge_window(spec, store, prepared, current, versions, started)
    record_check(store, spec, result, (reference, current), "now" if report else "never",
                 started)  # fmt: skip
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
