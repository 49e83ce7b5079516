"""The prediction log in-process: segments and their schema, the bound, layout changes,
listeners, and the spool (a store on a closed port, then a working one)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from driftloop.adapters.production_data import new_segment_id, read_inference_log
from driftloop.adapters.store import ObjectStore
from driftloop.config.settings import Settings
from driftloop.core.store_health import StoreHealth
from driftloop.serve.prediction_log import LogLayout, PredictionLog
from driftloop.serve.spool import SegmentWriter
from driftloop.serve.telemetry import Telemetry

from ..conftest import free_port

LAYOUT = LogLayout((("tenure", "numeric"), ("contract", "categorical")), classification=True)


def row(i: int, ts: float | None = None, layout_extra: tuple = ()) -> tuple:
    return (
        f"id-{i}",
        ts or time.time(),
        "3",
        "api",
        float(i),
        "One year",
        *layout_extra,
        "No",
        0.25,
    )


def make_log(tmp_path: Path, store: ObjectStore | None = None, **kwargs) -> PredictionLog:
    store = store or ObjectStore((tmp_path / "store").as_uri())
    options = {"max_rows": 1000, "flush_rows": 100, "flush_interval_s": 60.0} | kwargs
    return PredictionLog(SegmentWriter(store, tmp_path / "spool"), Telemetry(), **options)


def test_flush_writes_one_segment_with_the_documented_schema(tmp_path):
    log = make_log(tmp_path)
    log.append(LAYOUT, row(0))
    log.append(LAYOUT, ("id-1", time.time(), "3", "simulate", None, None, "Yes", 0.75))
    result = log.flush()
    assert result.written_rows == 2 and result.spooled_rows == 0
    (key,) = result.segments
    assert key.startswith("inference/") and key.endswith(".parquet")
    table = pq.read_table(tmp_path / "store" / key)
    assert [f"{f.name}:{f.type}" for f in table.schema] == [
        "request_id:string", "ts:timestamp[us, tz=UTC]", "model_version:string",
        "source:string", "tenure:double", "contract:string", "prediction:string",
        "probability:double",
    ]  # fmt: skip
    frame = read_inference_log(ObjectStore((tmp_path / "store").as_uri()))
    assert frame["request_id"].tolist() == ["id-0", "id-1"]
    assert frame["tenure"].isna().tolist() == [False, True]
    assert frame["contract"].tolist() == ["One year", None]
    assert log.flush().segments == ()  # nothing buffered: nothing written


def test_a_full_buffer_drops_rows_and_counts_them(tmp_path):
    log = make_log(tmp_path, max_rows=10)
    accepted = [log.append(LAYOUT, row(i)) for i in range(12)]
    assert accepted == [True] * 10 + [False] * 2
    assert log.extend(LAYOUT, [row(i) for i in range(5)]) == 0
    assert log.dropped == 7
    assert log.telemetry.log_rows_dropped._value.get() == 7
    assert log.flush().written_rows == 10
    assert log.extend(LAYOUT, [row(i) for i in range(15)]) == 10


def test_a_new_layout_cuts_the_segment(tmp_path):
    other = LogLayout((("tenure", "numeric"), ("contract", "categorical"),
                       ("score", "numeric")), classification=True)  # fmt: skip
    log = make_log(tmp_path)
    log.append(LAYOUT, row(0))
    log.append(LogLayout(LAYOUT.features, True), row(1))  # equal layout: same segment
    log.append(other, row(2, layout_extra=(1.5,)))
    result = log.flush()
    assert result.written_rows == 3 and len(result.segments) == 2
    frame = read_inference_log(ObjectStore((tmp_path / "store").as_uri()))
    assert frame["score"].isna().tolist() == [True, True, False]


def test_background_flush_by_size_and_listeners(tmp_path):
    log = make_log(tmp_path, flush_rows=5, flush_interval_s=60.0)
    heard: list[int] = []
    log.add_flush_listener(heard.append)
    log.add_flush_listener(lambda rows: 1 / 0)  # a broken listener changes nothing

    async def scenario() -> None:
        log.start()
        log.extend(LAYOUT, [row(i) for i in range(5)])
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.05)
        log.append(LAYOUT, row(99))
        await log.close()  # the rest is written on close

    asyncio.run(scenario())
    assert heard == [5, 1]


def test_store_down_spools_then_uploads_when_it_returns(tmp_path):
    log = make_log(tmp_path, store=closed_store(tmp_path))
    log.extend(LAYOUT, [row(i) for i in range(4)])
    result = log.flush()
    assert result.spooled_rows == 4 and result.written_rows == 0
    spool = log.writer.spooled()
    assert [p.relative_to(tmp_path / "spool").as_posix() for p in spool] == list(result.segments)

    log.writer.store = ObjectStore((tmp_path / "store").as_uri())  # the store is back
    log.writer.health.retry_at = 0.0  # and a retry is due
    log.append(LAYOUT, row(10))
    result = log.flush()
    assert result.written_rows == 5 and not log.writer.spooled()
    frame = read_inference_log(log.writer.store)
    assert sorted(frame["request_id"]) == ["id-0", "id-1", "id-10", "id-2", "id-3"]
    # row 10 went through the spool too: the store counted as down until the probe worked
    assert log.telemetry.log_rows_spooled._value.get() == 5
    assert log.telemetry.log_rows_written._value.get() == 5


def closed_store(tmp_path: Path) -> ObjectStore:
    """An S3 store on a port nothing listens on (a real client, failing for real)."""
    closed = Settings(
        state_dir=tmp_path / "state", store_url="s3://nowhere/prefix",
        s3={"endpoint_url": f"http://127.0.0.1:{free_port()}", "access_key_id": "testing",
            "secret_access_key": "testing"},
    )  # fmt: skip
    return ObjectStore.from_settings(closed)


def test_after_a_failed_write_segments_spool_without_trying_the_store_until_a_retry_is_due(
    tmp_path,
):
    now = [100.0]
    writer = SegmentWriter(closed_store(tmp_path), tmp_path / "spool", clock=lambda: now[0])
    log = PredictionLog(writer, Telemetry(), max_rows=1000, flush_rows=100, flush_interval_s=60)
    log.extend(LAYOUT, [row(i) for i in range(3)])
    assert log.flush().spooled_rows == 3
    assert writer.attempts == 1 and writer.health.down
    assert log.telemetry.store_up._value.get() == 0
    for i in range(3):  # within the back-off: straight to the spool, no attempt
        log.append(LAYOUT, row(10 + i))
        assert log.flush().spooled_rows == 1
    assert writer.attempts == 1 and len(writer.spooled()) == 4
    now[0] += writer.health.backoff_s  # a retry is due: one probe (the oldest segment) fails
    log.append(LAYOUT, row(20))
    assert log.flush().spooled_rows == 1
    assert writer.attempts == 2 and writer.health.backoff_s == 1.0
    now[0] += 1.0  # the store is back: the probe uploads the spool, oldest first
    writer.store = ObjectStore((tmp_path / "store").as_uri())
    log.append(LAYOUT, row(30))
    result = log.flush()
    assert result.spooled_rows == 1 and result.written_rows == 8
    assert not writer.spooled() and not writer.health.down
    assert log.telemetry.store_up._value.get() == 1
    log.append(LAYOUT, row(40))  # and writes go to the store directly again
    assert log.flush().written_rows == 1 and not writer.spooled()
    ids = sorted(read_inference_log(writer.store)["request_id"])
    assert ids == sorted(f"id-{i}" for i in [0, 1, 2, 10, 11, 12, 20, 30, 40])


def test_temporary_files_a_crash_left_in_the_spool_are_removed(tmp_path):
    import os

    spool = tmp_path / "spool" / "inference" / "2026" / "11" / "28"
    spool.mkdir(parents=True)
    stale, fresh = spool / ".tmp-stale", spool / ".tmp-fresh"
    stale.write_bytes(b"half a segment")
    fresh.write_bytes(b"being written by another worker")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    writer = SegmentWriter(ObjectStore((tmp_path / "store").as_uri()), tmp_path / "spool")
    assert writer.upload_spool() == []
    assert not stale.exists() and fresh.exists()


def test_segment_ids_are_unique_and_name_the_process():
    import os

    ids = [new_segment_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(f"-p{os.getpid()}-" in i for i in ids)
    assert ids == sorted(ids)  # time first, then a counter: chronological


@pytest.mark.parametrize("bad", [("id", time.time(), "3", "api", "not a number", "x", "No", 0.1)])
def test_a_row_that_cannot_be_written_is_dropped_and_counted(tmp_path, bad):
    log = make_log(tmp_path)
    log.append(LAYOUT, bad)
    assert log.flush().written_rows == 0
    assert log.dropped == 1


@pytest.fixture()
def switch_often():
    """Switch threads every microsecond, so an unguarded read-modify-write loses updates."""
    import sys

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_rows_dropped_by_request_threads_and_the_flusher_are_all_counted(tmp_path, switch_often):
    """Request threads drop rows at a full buffer while the flusher drops a segment it cannot
    build: every row offered is either written or counted as dropped, exactly once."""
    log = make_log(tmp_path, max_rows=5)
    threads, calls = 8, 2000
    start = threading.Barrier(threads + 1)

    def requests() -> None:
        start.wait()
        for i in range(calls):
            if i % 2:
                log.extend(LAYOUT, [row(i)] * 3)
            else:
                log.append(LAYOUT, row(i))

    workers = [threading.Thread(target=requests) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    bad = ("id", time.time(), "3", "api", "not a number", "x", "No", 0.1)
    offered, written = threads * (calls // 2) * (3 + 1), 0
    while any(w.is_alive() for w in workers):  # a bad row poisons (drops) its segment
        log.extend(LAYOUT, [bad])
        offered += 1
        written += log.flush().written_rows
    for w in workers:
        w.join()
    written += log.flush().written_rows
    assert log.dropped > threads * calls // 4  # most rows met a full buffer
    assert log.dropped == offered - written
    assert log.telemetry.log_rows_dropped._value.get() == log.dropped


class PreemptedHealth(StoreHealth):
    """Store health whose update is preempted halfway, as a thread switch can do: the
    writer must not let two threads update it at once (a lost failure otherwise)."""

    def failed(self, now: float) -> None:
        seen = self.failures
        time.sleep(0.01)  # another writer's thread runs here
        super().failed(now)
        self.failures = seen + 1


class FailingTogetherStore(ObjectStore):
    """A store whose writes all fail at the same moment (a network outage)."""

    def __init__(self, url: str, writers: int) -> None:
        super().__init__(url)
        self.outage = threading.Barrier(writers)

    def write_bytes(self, key: str, data: bytes) -> None:
        self.outage.wait()
        raise ConnectionError("connection refused")


def test_concurrent_writes_during_an_outage_record_every_failed_attempt(tmp_path):
    """The flusher's thread and feedback threads write through one writer when the store
    goes down: every attempt is counted and recorded as a failure, every segment spooled."""
    threads = 6
    store = FailingTogetherStore((tmp_path / "store").as_uri(), threads)
    writer = SegmentWriter(store, tmp_path / "spool", health=PreemptedHealth())
    results: list[bool] = []

    def write(n: int) -> None:
        for i in range(3):  # the first fails (all at once); the rest spool without trying
            results.append(writer.write(f"feedback/2026/12/01/t{n}-{i}.parquet", b"x"))

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [False] * threads * 3 and len(writer.spooled()) == threads * 3
    assert writer.store_down and writer.attempts == threads
    assert writer.health.failures == threads
    assert writer.health.backoff_s == min(writer.health.max_backoff_s, 0.5 * 2 ** (threads - 1))
