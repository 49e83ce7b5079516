"""``driftloop compact``: keep the store small and its readers fast.

* past days' inference-log segments (older than ``compact_after_days``) are merged into one
  ``<yyyymmdd>-compacted-<token>.parquet`` per day (rows sorted by time), then the small
  segments are deleted (the merged file is written first: a crash leaves duplicates for one
  day at worst, never a gap; readers and the next compaction keep one row per request id);
* stores of the flat layout of before are migrated: ``reports/<id>/`` and
  ``retrains/<id>.json`` move into their day folders, and event records get their day index;
* retention (``DRIFTLOOP_RETENTION__*``): day folders older than the kept days are deleted
  (inference and feedback segments, reports), and reports' HTML and kept rows after
  ``html_days``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from driftloop.adapters import event_records, reports, retrain_records
from driftloop.adapters.partitions import days_newest_first, legacy_names
from driftloop.adapters.production_data import (
    FEEDBACK_PREFIX,
    INFERENCE_PREFIX,
    one_row_per_request,
)
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError
from driftloop.config.settings import RetentionSettings


@dataclass
class CompactResult:
    """What one compaction did."""

    days_compacted: int = 0
    segments_merged: int = 0
    migrated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)


def _compact_day(store: ObjectStore, folder: str, day: date) -> int:
    keys = [f"{folder}/{n}" for n in store.children(folder) if n.endswith(".parquet")]
    if len(keys) <= 1:
        return 0
    frame = pd.concat([store.read_parquet(k) for k in keys], ignore_index=True)
    frame = one_row_per_request(frame.sort_values("ts", kind="stable").reset_index(drop=True))
    merged = f"{folder}/{day:%Y%m%d}-compacted-{secrets.token_hex(4)}.parquet"
    store.write_parquet(merged, frame)
    for key in keys:
        store.delete(key)
    return len(keys)


def _delete_folder(store: ObjectStore, folder: str) -> int:
    keys = store.list(folder)
    for key in keys:
        store.delete(key)
    return len(keys)


def _migrate(store: ObjectStore) -> dict[str, int]:
    moved = {"reports": 0, "retrains": 0, "events": 0}
    for name in legacy_names(store, reports.PREFIX.rstrip("/")):
        if not reports.is_report_id(name):
            continue
        for key in store.list(f"{reports.PREFIX}{name}"):
            store.write_bytes(reports.report_key(name, key.rsplit("/", 1)[-1]),
                              store.read_bytes(key))  # fmt: skip
            store.delete(key)
        moved["reports"] += 1
    for name in legacy_names(store, retrain_records.PREFIX):
        key = f"{retrain_records.PREFIX}/{name}"
        if not name.endswith(".json"):
            continue
        stamp = store.modified(key) or datetime.now(UTC)
        store.write_bytes(retrain_records.retrain_key(name.removesuffix(".json"), stamp),
                          store.read_bytes(key))  # fmt: skip
        store.delete(key)
        moved["retrains"] += 1
    if event_records.indexed_event_ids(store, 1) is None:
        for record in event_records.read_events(store, limit=10**9):
            stamp = datetime.fromisoformat(str(record.get("updated_at") or "1970-01-01"))
            at = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            event_records.index_event(store, str(record["event_id"]), at)
            moved["events"] += 1
    return moved


def _expire_html(store: ObjectStore, before: date) -> int:
    n = 0
    for day, folder in days_newest_first(store, reports.PREFIX.rstrip("/")):
        if day > before:
            continue
        for report_id in store.children(folder):
            for name in (reports.HTML, reports.WINDOW):
                key = f"{folder}/{report_id}/{name}"
                try:
                    store.read_bytes(key)
                except NotFoundError:
                    continue
                store.delete(key)
                n += 1
    return n


def compact(
    store: ObjectStore, retention: RetentionSettings, today: date | None = None
) -> CompactResult:
    """Compact, migrate and apply retention once."""
    today = today or datetime.now(UTC).date()
    result = CompactResult(migrated=_migrate(store))
    last = today - timedelta(days=retention.compact_after_days)
    for day, folder in days_newest_first(store, INFERENCE_PREFIX):
        if day <= last and (n := _compact_day(store, folder, day)):
            result.days_compacted += 1
            result.segments_merged += n
    deleted = {}
    for prefix, days in ((INFERENCE_PREFIX, retention.inference_days),
                         (FEEDBACK_PREFIX, retention.inference_days),
                         (reports.PREFIX.rstrip("/"), retention.report_days)):  # fmt: skip
        if days:
            cut = today - timedelta(days=days)
            deleted[prefix] = sum(_delete_folder(store, folder)
                                  for day, folder in days_newest_first(store, prefix)
                                  if day <= cut)  # fmt: skip
    if retention.html_days:
        deleted["html"] = _expire_html(store, today - timedelta(days=retention.html_days))
    result.deleted = deleted
    return result
