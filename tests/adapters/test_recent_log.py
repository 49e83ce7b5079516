"""`status`'s last hour of traffic reads the segments that can hold it, not every segment of
the day folders it lists (a day of a busy server's segments), and gives the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    new_segment_id,
    read_inference_log,
    read_recent_log,
    segment_key,
)
from driftloop.adapters.store import ObjectStore


class CountingStore(ObjectStore):
    reads = 0

    def read_bytes(self, key: str) -> bytes:
        self.reads += key.startswith(f"{INFERENCE_PREFIX}/")
        return super().read_bytes(key)


def write(store: ObjectStore, first: datetime, name_at: datetime, n: int, tag: str) -> None:
    ts = [first + timedelta(seconds=i) for i in range(n)]
    frame = pd.DataFrame({"request_id": [f"{tag}-{i}" for i in range(n)], "ts": ts,
                          "model_version": "1", "source": "api"})  # fmt: skip
    store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(name_at)), frame)


def test_the_last_hour_reads_only_the_segments_that_reach_it(tmp_path: Path) -> None:
    store = CountingStore((tmp_path / "store").as_uri())
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(48):  # a segment every half hour for a day, named when written
        first = now - timedelta(minutes=30 * n + 5)
        write(store, first, first + timedelta(seconds=4), 5, f"s{n}")
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0)
    compacted = f"{INFERENCE_PREFIX}/{yesterday:%Y/%m/%d}/{yesterday:%Y%m%d}-compacted-ab.parquet"
    late = {"request_id": ["c-0"], "ts": [now - timedelta(minutes=20)], "model_version": "1",
            "source": "api"}  # fmt: skip
    store.write_parquet(compacted, pd.DataFrame(late))  # a late row in yesterday's daily file
    since = now - timedelta(hours=1)

    expected = read_inference_log(store, since=since)
    store.reads = 0
    recent = read_recent_log(store, since)
    pd.testing.assert_frame_equal(recent, expected)
    assert set(recent["request_id"].str[:2]) >= {"s0", "s1", "c-"}
    assert store.reads <= 4, f"read {store.reads} segments for the last hour"
