"""Readers of the inference log and feedback, on a real file store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from driftloop.adapters.production_data import (
    FEEDBACK_PREFIX,
    INFERENCE_PREFIX,
    TIMESTAMP,
    feedback_table,
    new_segment_id,
    parquet_bytes,
    read_feedback,
    read_inference_log,
    segment_key,
)
from driftloop.adapters.store import ObjectStore


def write_segment(store: ObjectStore, start: datetime, ids: list[str]) -> None:
    ts = [start + timedelta(seconds=i) for i in range(len(ids))]
    table = pa.table({
        "request_id": pa.array(ids, pa.string()), "ts": pa.array(ts, TIMESTAMP),
        "model_version": pa.array(["1"] * len(ids)), "source": pa.array(["api"] * len(ids)),
        "tenure": pa.array([1.0] * len(ids)),
    })  # fmt: skip
    store.write_bytes(segment_key(INFERENCE_PREFIX, start, new_segment_id()),
                      parquet_bytes(table))  # fmt: skip


def test_inference_log_since_and_limit(tmp_path):
    store = ObjectStore((tmp_path / "store").as_uri())
    assert read_inference_log(store).empty
    day1 = datetime(2026, 1, 1, 23, 59, 58, tzinfo=UTC)  # spans midnight
    write_segment(store, day1, ["a", "b", "c", "d"])
    write_segment(store, datetime(2026, 1, 3, tzinfo=UTC), ["e", "f"])
    keys = store.list("inference")
    assert keys[0].startswith("inference/2026/01/01/") and keys[1].startswith(
        "inference/2026/01/03/")  # fmt: skip
    assert read_inference_log(store)["request_id"].tolist() == list("abcdef")
    since = read_inference_log(store, since=datetime(2026, 1, 2, tzinfo=UTC))
    assert since["request_id"].tolist() == ["c", "d", "e", "f"]
    naive = read_inference_log(store, since=datetime(2026, 1, 2))  # naive means UTC
    assert naive["request_id"].tolist() == ["c", "d", "e", "f"]
    assert read_inference_log(store, limit_rows=3)["request_id"].tolist() == ["d", "e", "f"]
    assert read_inference_log(store, limit_rows=1)["request_id"].tolist() == ["f"]


def test_feedback_newest_label_wins(tmp_path):
    store = ObjectStore((tmp_path / "store").as_uri())
    assert list(read_feedback(store).columns) == ["request_id", "label", "ts"]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for when, labels in [
        (t0, [("a", "Yes"), ("b", "No")]),
        (t0 + timedelta(hours=1), [("a", "No")]),
    ]:
        store.write_bytes(segment_key(FEEDBACK_PREFIX, when, new_segment_id()),
                          parquet_bytes(feedback_table(labels, when)))  # fmt: skip
    got = read_feedback(store).set_index("request_id")["label"].to_dict()
    assert got == {"a": "No", "b": "No"}
    assert read_feedback(store, since=t0 + timedelta(minutes=30))["request_id"].tolist() == ["a"]
