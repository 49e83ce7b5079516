"""Owner of the ``events/`` key family: one JSON record per event, with its history, and a
day index of the steps so that the newest events are found without reading them all::

    events/<event-id>.json                          the record (read and updated by id)
    events/<event-id>.claim.json                    the claim of an event id (intake)
    events/index/<yyyy>/<mm>/<dd>/<stamp>-<event-id> empty marker, one per recorded step

``read_events`` walks the index from the newest day and reads only the records it lists.
A store with no index at all (written before it) is read the old way, every record;
``driftloop compact`` writes the index for the records it finds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from driftloop.adapters.partitions import day_prefix, days_newest_first
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.core.statuses import EventStatus

INDEX = "events/index"


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
    index_event(store, event_id, datetime.now(UTC))
    return record


def index_event(store: ObjectStore, event_id: str, at: datetime) -> None:
    """Mark in the day index that an event's record changed at ``at``."""
    store.write_bytes(f"{day_prefix(INDEX, at)}/{at:%Y%m%dT%H%M%S%fZ}-{event_id}", b"")


def indexed_event_ids(store: ObjectStore, limit: int) -> list[str] | None:
    """Ids of the most recently changed events, newest first; None when there is no index."""
    ids: list[str] = []
    seen: set[str] = set()
    days = days_newest_first(store, INDEX)
    found_any = False
    for _, folder in days:
        found_any = True
        for name in sorted(store.children(folder), reverse=True):
            event_id = name.partition("-")[2]
            if event_id and event_id not in seen:
                seen.add(event_id)
                ids.append(event_id)
        if len(ids) >= limit:
            break
    return ids[:limit] if found_any else None


def read_events(store: ObjectStore, limit: int = 100) -> list[dict[str, Any]]:
    """The newest event records, newest first (from the day index when there is one)."""
    records = []
    ids = indexed_event_ids(store, limit)
    if ids is not None:
        for event_id in ids:
            try:
                records.append(dict(store.read_json(event_key(event_id))))
            except (NotFoundError, ValueError):
                continue
        records.sort(key=lambda r: r.get("updated_at", ""), reverse=True)
        return records
    for key in store.iter_prefix("events/", ".json"):
        if key.count("/") == 1 and not key.endswith(".claim.json"):
            try:
                records.append(dict(store.read_json(key)))
            except NotFoundError:
                continue
    records.sort(key=lambda r: r.get("updated_at", ""), reverse=True)
    return records[:limit]
