"""Owner of the ``retrains/`` key family: one JSON result per retrain, under the UTC day it
was written (``retrains/<yyyy>/<mm>/<dd>/<retrain-id>.json``).

``read_retrains`` reads the newest days only, as many as it needs; results of stores
written before the day folders (``retrains/<id>.json``) are still read (``driftloop
compact`` moves them into day folders).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from driftloop.adapters.partitions import day_prefix, days_newest_first, legacy_names
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError

PREFIX = "retrains"
RECENT = 50
"""Results read by default: the newest days until at least this many."""


def retrain_key(retrain_id: str, at: datetime | None = None) -> str:
    """Store key of a retrain's result written at ``at`` (now)."""
    return f"{day_prefix(PREFIX, at or datetime.now(UTC))}/{retrain_id}.json"


def write_retrain(store: ObjectStore, retrain_id: str, result: dict[str, Any]) -> str:
    """Write a retrain's result; returns its key."""
    key = retrain_key(retrain_id)
    store.write_json(key, result)
    return key


def _read(store: ObjectStore, key: str) -> dict[str, Any] | None:
    try:
        data = dict(store.read_json(key))
    except (NotFoundError, ValueError):
        return None  # deleted or half-written meanwhile
    if not data.get("finished_at"):
        stamp = store.modified(key)
        data["finished_at"] = None if stamp is None else stamp.isoformat(timespec="seconds")
    return data


def retrain_keys(store: ObjectStore, limit: int | None = RECENT) -> list[str]:
    """Keys of the newest results (whole days until ``limit``), then the flat ones."""
    keys: list[str] = []
    for _, folder in days_newest_first(store, PREFIX):
        keys.extend(f"{folder}/{n}" for n in store.children(folder) if n.endswith(".json"))
        if limit is not None and len(keys) >= limit:
            break
    keys += [f"{PREFIX}/{n}" for n in legacy_names(store, PREFIX) if n.endswith(".json")]
    return keys


def read_retrains(store: ObjectStore, limit: int | None = RECENT) -> list[dict[str, Any]]:
    """The newest retrain results, with ``finished_at`` from the object's time if absent."""
    return [d for key in retrain_keys(store, limit) if (d := _read(store, key)) is not None]
