"""Owner of the ``events/`` key family: one JSON record per event, with its history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.core.statuses import EventStatus


def event_key(event_id: str) -> str:
    """Store key of an event's record."""
    return f"events/{event_id}.json"


def record_event(
    store: ObjectStore, event_id: str, what: EventStatus, **details: Any
) -> dict[str, Any]:
    """Append a step to an event's record (creating it when needed)."""
    try:
        record = dict(store.read_json(event_key(event_id)))
    except NotFoundError:
        record = {"event_id": event_id, "history": []}
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    record["status"] = str(what)
    record["updated_at"] = now
    record.setdefault("history", []).append({"at": now, "what": str(what), **details})
    if "event" in details:
        record["event"] = details["event"]
    store.write_json(event_key(event_id), record)
    return record


def read_events(store: ObjectStore, limit: int = 100) -> list[dict[str, Any]]:
    """The newest event records, newest first."""
    records = []
    for key in store.iter_prefix("events/", ".json"):
        if key.count("/") == 1 and not key.endswith(".claim.json"):
            try:
                records.append(dict(store.read_json(key)))
            except NotFoundError:
                continue
    records.sort(key=lambda r: r.get("updated_at", ""), reverse=True)
    return records[:limit]
