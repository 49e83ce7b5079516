"""Inference segments read column by column give what the pandas reader gives, on file://
and on S3 (moto), whatever the segments' versions, missing columns and types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftloop.adapters.log_columns import read_log_columns
from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    TIMESTAMP,
    new_segment_id,
    newest_segment_keys,
    parquet_bytes,
    read_inference_log,
    segment_key,
)
from driftloop.adapters.store import ObjectStore

NUMERIC, CATEGORICAL = ["amount", "code"], ["plan"]
START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture()
def store(file_or_s3_store: ObjectStore) -> ObjectStore:
    return file_or_s3_store


def put(store: ObjectStore, first: datetime, columns: dict[str, pa.Array]) -> None:
    rows = len(next(iter(columns.values())))
    table = pa.table({"ts": pa.array([first + timedelta(seconds=i) for i in range(rows)],
                                     TIMESTAMP), **columns})  # fmt: skip
    store.write_bytes(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)),
                      parquet_bytes(table))  # fmt: skip


def mixed_log(store: ObjectStore) -> None:
    """Four segments: version 1 throughout, version 2 throughout, both versions (with a
    missing version), and version 1 written by a model without ``code`` whose ``amount`` is
    text and ``plan`` has gaps."""
    rng = np.random.default_rng(3)
    for n, versions in enumerate([["1"] * 40, ["2"] * 30, ["1", "2", None, "1"] * 10]):
        put(store, START + timedelta(hours=n), {
            "model_version": pa.array(versions, pa.string()),
            "amount": pa.array(rng.normal(10, 2, len(versions))),
            "code": pa.array(rng.integers(0, 3, len(versions))),
            "plan": pa.array(rng.choice(["basic", "pro"], len(versions))),
        })  # fmt: skip
    put(store, START + timedelta(hours=5), {
        "model_version": pa.array(["1"] * 4),
        "amount": pa.array(["1.5", "oops", None, "7"]),
        "plan": pa.array(["basic", None, "gold", "basic"]),
    })  # fmt: skip


def expected(store: ObjectStore, version: str, newest: int | None = None) -> pd.DataFrame:
    return read_inference_log(store, limit_rows=newest, model_version=version)


def test_columns_equal_the_pandas_reader(store):
    mixed_log(store)
    keys = list(newest_segment_keys(store, INFERENCE_PREFIX))
    got = read_log_columns(store, keys, (NUMERIC, CATEGORICAL), model_version="1")
    want = expected(store, "1")
    assert got.rows == len(want) == 40 + 20 + 4
    assert (got.start, got.end) == (want["ts"].min(), want["ts"].max())
    for name in NUMERIC:
        values = pd.to_numeric(want[name], errors="coerce").to_numpy(float)
        np.testing.assert_array_equal(np.sort(got.numeric[name]), np.sort(values))
    counts = {k: v for k, v in got.categorical["plan"].items() if k is not None}
    assert counts == want["plan"].value_counts().to_dict()
    assert got.categorical["plan"].get(None) == 1


def test_a_segment_of_another_version_adds_nothing(store):
    mixed_log(store)
    keys = list(newest_segment_keys(store, INFERENCE_PREFIX))
    got = read_log_columns(store, keys, (NUMERIC, CATEGORICAL), model_version="2")
    assert got.rows == len(expected(store, "2")) == 30 + 10
    assert read_log_columns(store, keys, (NUMERIC, CATEGORICAL), model_version="9").rows == 0
    assert read_log_columns(store, [], (NUMERIC, CATEGORICAL)).rows == 0


def test_newest_keeps_the_latest_rows(store):
    mixed_log(store)
    keys = list(newest_segment_keys(store, INFERENCE_PREFIX))
    got = read_log_columns(store, keys, (NUMERIC, CATEGORICAL), model_version="1", newest=25)
    want = expected(store, "1", newest=25)
    assert got.rows == 25 and (got.start, got.end) == (want["ts"].min(), want["ts"].max())
    amounts = pd.to_numeric(want["amount"], errors="coerce").to_numpy(float)
    np.testing.assert_array_equal(np.sort(got.numeric["amount"]), np.sort(amounts))


def test_segments_without_statistics_read_the_same(store):
    """Version and time range from the statistics, or from the columns when there are none."""
    rng = np.random.default_rng(8)
    table = pa.table({
        "ts": pa.array([START + timedelta(seconds=i) for i in range(50)], TIMESTAMP),
        "model_version": pa.array(["1"] * 50),
        "amount": pa.array(rng.normal(0, 1, 50)),
        "plan": pa.array(rng.choice(["basic", "pro"], 50)),
    })  # fmt: skip
    keys = [f"{INFERENCE_PREFIX}/2026/03/01/{n}.parquet" for n in (0, 1)]
    for key, stats in zip(keys, [True, False], strict=True):
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, write_statistics=stats)
        store.write_bytes(key, buf.getvalue().to_pybytes())
    with_stats, without = (read_log_columns(store, [k], (NUMERIC, CATEGORICAL), "1") for k in keys)
    assert with_stats.rows == without.rows == 50
    assert (with_stats.start, with_stats.end) == (without.start, without.end)
    assert (with_stats.start, with_stats.end) == (START, START + timedelta(seconds=49))
    np.testing.assert_array_equal(with_stats.numeric["amount"], without.numeric["amount"])
    assert with_stats.categorical == without.categorical
