"""History that does not slow anything down: the newest reports, events, retrains and
logged rows are found by listing and reading a bounded number of objects, the same with a
small history as with a large one; stores in the flat layout of before are still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from driftloop.adapters.event_records import index_event, read_events
from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    new_segment_id,
    read_inference_log,
    segment_key,
)
from driftloop.adapters.reports import report_ids, write_report
from driftloop.adapters.retrain_records import read_retrains, retrain_key
from driftloop.adapters.store import ObjectStore

START = datetime(2026, 6, 1, tzinfo=UTC)


class CountingStore(ObjectStore):
    """A local store that counts the listing and read calls made on it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls = 0

    def children(self, prefix: str) -> list[str]:
        self.calls += 1
        return super().children(prefix)

    def list(self, prefix: str) -> list[str]:
        self.calls += 1
        return super().list(prefix)

    def read_bytes(self, key: str) -> bytes:
        self.calls += 1
        return super().read_bytes(key)

    def exists(self, key: str) -> bool:
        self.calls += 1
        return super().exists(key)


def report_id(moment: datetime, n: int) -> str:
    return f"{moment:%Y%m%dT%H%M%S%f}Z-{n:06x}"


def write_history(store: ObjectStore, days: int, per_day: int) -> None:
    """Reports, event records (with their index), retrains and log segments over ``days``."""
    for d in range(days):
        day = START + timedelta(days=d)
        for n in range(per_day):
            moment = day + timedelta(minutes=n)
            write_report(store, report_id(moment, n), {"model_version": "1", "n": n})
            event_id = f"ev{d:04d}{n:04d}"
            store.write_json(f"events/{event_id}.json",
                             {"event_id": event_id, "updated_at": moment.isoformat()})  # fmt: skip
            index_event(store, event_id, moment)
            result = {"retrain_id": event_id, "finished_at": moment.isoformat()}
            store.write_json(retrain_key(event_id, moment), result)
            frame = pd.DataFrame({"request_id": [f"{d}-{n}-{i}" for i in range(10)],
                                  "ts": [moment + timedelta(seconds=i) for i in range(10)],
                                  "model_version": "1", "x": 1.0})  # fmt: skip
            store.write_parquet(
                segment_key(INFERENCE_PREFIX, moment, new_segment_id(moment)), frame
            )


def calls_to_read_the_newest(store: CountingStore) -> dict[str, int]:
    out = {}
    for name, read in (
        ("reports", lambda: report_ids(store, 10)),
        ("events", lambda: read_events(store, 10)),
        ("retrains", lambda: read_retrains(store, 10)),
        ("window", lambda: read_inference_log(store, limit_rows=50, model_version="1")),
    ):
        store.calls = 0
        found = read()
        # retrains come by whole days (they are few), the others exactly as many as asked
        assert (
            len(found) >= 10
            if name == "retrains"
            else len(found) == (50 if name == "window" else 10)
        ), name
        out[name] = store.calls
    return out


def test_reading_the_newest_history_costs_the_same_whatever_its_length(tmp_path: Path):
    small = CountingStore((tmp_path / "small").as_uri())
    large = CountingStore((tmp_path / "large").as_uri())
    write_history(small, days=1, per_day=12)
    write_history(large, days=60, per_day=12)  # 720 of each
    assert report_ids(large, 1) == [report_id(START + timedelta(days=59, minutes=11), 11)]
    small_calls, large_calls = calls_to_read_the_newest(small), calls_to_read_the_newest(large)
    for name, calls in large_calls.items():
        # one listing per folder level more at most (the year/month of a longer history)
        assert calls <= small_calls[name] + 3, (name, small_calls, large_calls)
        assert calls < 60, (name, calls)


def test_stores_in_the_flat_layout_are_still_read(tmp_path: Path):
    store = ObjectStore((tmp_path / "old").as_uri())
    old = report_id(START, 1)
    store.write_json(f"reports/{old}/drift.json", {"model_version": "1"})
    store.write_json("retrains/r-old.json", {"retrain_id": "r-old", "finished_at": "2026-01-01"})
    store.write_json("events/ev-old.json", {"event_id": "ev-old", "updated_at": "2026-01-01"})
    assert report_ids(store) == [old]
    assert [r["retrain_id"] for r in read_retrains(store)] == ["r-old"]
    assert [e["event_id"] for e in read_events(store)] == ["ev-old"]  # no index: read them all
    new = report_id(START + timedelta(days=1), 2)
    write_report(store, new, {"model_version": "1"})
    assert report_ids(store) == [new, old]
