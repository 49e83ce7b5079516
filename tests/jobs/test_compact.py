"""``driftloop compact``: past days' segments merge into one file each with the same rows,
flat-layout history moves into day folders, and retention deletes what is older."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    new_segment_id,
    read_inference_log,
    segment_key,
)
from driftloop.adapters.reports import read_report, report_ids, write_report
from driftloop.adapters.retrain_records import read_retrains, retrain_keys
from driftloop.adapters.store import ObjectStore
from driftloop.config.settings import RetentionSettings
from driftloop.jobs.compact import compact

TODAY = date(2026, 6, 10)


def log_segments(store: ObjectStore, days: int, per_day: int) -> None:
    for d in range(days):
        for n in range(per_day):
            first = datetime(2026, 6, 10 - d, 8, n, tzinfo=UTC)
            frame = pd.DataFrame({"request_id": [f"{d}-{n}-{i}" for i in range(5)],
                                  "ts": [first + timedelta(seconds=i) for i in range(5)],
                                  "model_version": "1", "x": float(d)})  # fmt: skip
            store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)),
                                frame)  # fmt: skip


def test_past_days_merge_into_one_file_each_with_the_same_rows(tmp_path: Path):
    store = ObjectStore((tmp_path / "store").as_uri())
    log_segments(store, days=3, per_day=4)
    before = read_inference_log(store)
    result = compact(store, RetentionSettings(), today=TODAY)
    assert (result.days_compacted, result.segments_merged) == (2, 8)  # today is left alone
    after = read_inference_log(store)
    pd.testing.assert_frame_equal(before, after)
    assert len(store.list(f"{INFERENCE_PREFIX}/2026/06/09")) == 1
    assert len(store.list(f"{INFERENCE_PREFIX}/2026/06/10")) == 4


def test_flat_history_moves_into_day_folders_and_retention_deletes_old_days(tmp_path: Path):
    store = ObjectStore((tmp_path / "store").as_uri())
    log_segments(store, days=3, per_day=1)
    old = "20260601T100000000000Z-abcdef"
    store.write_json(f"reports/{old}/drift.json", {"model_version": "1"})
    store.write_json("retrains/r1.json", {"retrain_id": "r1", "finished_at": "2026-06-01"})
    new = "20260610T100000000000Z-abcdef"
    write_report(store, new, {"model_version": "1"}, html=b"<html></html>")
    result = compact(store, RetentionSettings(inference_days=2, report_days=5), today=TODAY)
    assert result.migrated["reports"] == 1 and result.migrated["retrains"] == 1
    assert not store.exists(f"reports/{old}/drift.json")
    assert [r["retrain_id"] for r in read_retrains(store)] == ["r1"]
    assert retrain_keys(store)[0].count("/") == 4
    assert report_ids(store) == [new]  # the old one was past report_days
    assert read_report(store, new) == {"model_version": "1"}
    assert sorted(read_inference_log(store)["x"].unique()) == [0.0, 1.0]  # day 3 deleted


def test_compact_after_zero_days_merges_today_and_later_segments_stay_readable(tmp_path: Path):
    """``compact_after_days=0`` (the dev overlay's): today's segments merge too; a segment
    written afterwards sorts after the merged file, the newest window reads it first, and
    the next run folds it in."""
    store = ObjectStore((tmp_path / "store").as_uri())
    log_segments(store, days=1, per_day=4)
    result = compact(store, RetentionSettings(compact_after_days=0), today=TODAY)
    assert (result.days_compacted, result.segments_merged) == (1, 4)
    late = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    frame = pd.DataFrame({"request_id": ["late"], "ts": [late], "model_version": "1", "x": 9.0})
    store.write_parquet(segment_key(INFERENCE_PREFIX, late, new_segment_id(late)), frame)
    newest = read_inference_log(store, limit_rows=3)
    assert list(newest["request_id"])[-1] == "late" and len(newest) == 3
    again = compact(store, RetentionSettings(compact_after_days=0), today=TODAY)
    assert again.segments_merged == 2
    assert len(store.list(f"{INFERENCE_PREFIX}/2026/06/10")) == 1
    assert len(read_inference_log(store)) == 21


def test_a_half_done_compaction_reads_each_request_once_and_the_next_run_folds_it(
    tmp_path: Path,
):
    """The merged file is written before the small segments are deleted: a reader in
    between (or after a crash there) sees both; it must count each request once."""
    store = ObjectStore((tmp_path / "store").as_uri())
    log_segments(store, days=2, per_day=3)
    before = read_inference_log(store)
    folder = f"{INFERENCE_PREFIX}/2026/06/09"
    day = pd.concat([store.read_parquet(f"{folder}/{n}") for n in store.children(folder)])
    store.write_parquet(f"{folder}/20260609-compacted-deadbeef.parquet", day)  # crash here
    assert len(store.list(folder)) == 4
    pd.testing.assert_frame_equal(read_inference_log(store), before)
    assert len(read_inference_log(store, limit_rows=12)) == 12
    compact(store, RetentionSettings(), today=TODAY)
    assert len(store.list(folder)) == 1
    assert len(store.read_parquet(store.list(folder)[0])) == 15
    pd.testing.assert_frame_equal(read_inference_log(store), before)
