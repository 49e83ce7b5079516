"""The in-server drift check runs every few hundred logged rows for as long as the server
lives, so its cost must not grow with the age of the inference log: it reads the newest
segments that hold its window, not the whole log (found by the soak, benchmarks/soak.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from driftloop.adapters.store import ObjectStore

SEGMENTS = 60
ROWS_PER_SEGMENT = 100
WINDOW_ROWS = 250


class CountingStore(ObjectStore):
    """A local store that counts the objects read under ``inference/``."""

    reads = 0

    def read_bytes(self, key: str) -> bytes:
        if key.startswith("inference/"):
            self.reads += 1
        return super().read_bytes(key)


def test_a_drift_window_reads_only_the_newest_segments(tmp_path: Path):
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key
    from driftloop.jobs.detect import current_window

    store = CountingStore((tmp_path / "store").as_uri())
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(SEGMENTS):
        first = start + timedelta(minutes=n)
        ts = [first + timedelta(seconds=i) for i in range(ROWS_PER_SEGMENT)]
        frame = pd.DataFrame({
            "request_id": [f"{n}-{i}" for i in range(ROWS_PER_SEGMENT)], "ts": ts,
            "model_version": "1", "source": "api", "tenure": 1.0, "prediction": "No",
            "probability": 0.1,
        })  # fmt: skip
        store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)), frame)

    window = current_window(store, WINDOW_ROWS, "1")
    assert len(window) == WINDOW_ROWS
    assert window["request_id"].iloc[-1] == f"{SEGMENTS - 1}-{ROWS_PER_SEGMENT - 1}"
    needed = -(-WINDOW_ROWS // ROWS_PER_SEGMENT)
    assert store.reads <= needed + 1, f"read {store.reads} of {SEGMENTS} segments"
