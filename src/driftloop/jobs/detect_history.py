"""What a drift decision reads from the store's history: the earlier windows of the same
model version (their alarms) and the time of the newest retrain. Both read a bounded amount
(the newest reports, the newest events of the day index, the newest retrain days)."""

from __future__ import annotations

from datetime import UTC, datetime

from driftloop.adapters.event_records import read_events
from driftloop.adapters.reports import read_report, report_ids
from driftloop.adapters.retrain_records import read_retrains
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.core.policy import alarms_of
from driftloop.core.statuses import RetrainStatus, event_status

HISTORY_WINDOWS = 10
HISTORY_SCAN = 50
"""Newest reports read to find the earlier windows of the same model version."""


def recent_history(store: ObjectStore, model_version: str | None) -> list[frozenset[str]]:
    """The alarms (signals that fired and are triggers) of the newest earlier reports for the
    same model version, oldest first."""
    verdicts: list[frozenset[str]] = []
    for report_id in report_ids(store, HISTORY_SCAN):
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


_NO_RETRAIN = (RetrainStatus.SKIPPED, RetrainStatus.SUPERSEDED)
RETRAIN_STATUSES = frozenset(event_status(s) for s in RetrainStatus if s not in _NO_RETRAIN)
"""Event-record steps that mean a retrain started or finished (not "retrain-skipped" or
"retrain-superseded": neither trained anything)."""


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
        if record.get("status") not in _NO_RETRAIN and record.get("finished_at")
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None
