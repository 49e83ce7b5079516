"""What production sent and what it turned out to be: the inference log and feedback labels.

Both live in the object store as Parquet segments, one object per flush of one server
process, so replicas never write the same key::

    inference/<yyyy>/<mm>/<dd>/<segment-id>.parquet   request_id, ts, model_version, source,
                                                       every feature, prediction, probability
    feedback/<yyyy>/<mm>/<dd>/<segment-id>.parquet    request_id, label, ts

The date folders are the UTC date of a segment's first row. A segment id starts with the
time it was written, so sorted keys are (nearly) chronological. Readers walk the day
folders from the newest (``adapters/partitions``): a window of the newest rows lists and
reads only the newest segments, however long the log. ``driftloop compact`` may replace a
past day's segments with one ``<yyyymmdd>-compacted-<token>.parquet``. This module owns that
layout: the key names, the feedback table and the readers that drift detection and
retraining use.
"""

from __future__ import annotations

import io
import itertools
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from driftloop.adapters.partitions import days_newest_first
from driftloop.adapters.store import ObjectStore

INFERENCE_PREFIX = "inference"
FEEDBACK_PREFIX = "feedback"
TIMESTAMP = pa.timestamp("us", tz="UTC")
FEEDBACK_SCHEMA = pa.schema(
    [("request_id", pa.string()), ("label", pa.string()), ("ts", TIMESTAMP)]
)

_PROCESS_TOKEN = secrets.token_hex(4)  # tells apart processes with equal pids (pods)
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def new_segment_id(now: datetime | None = None) -> str:
    """A segment id unique per process and call: UTC time, pid, a random token, a counter."""
    now = now or datetime.now(UTC)
    with _counter_lock:
        n = next(_counter)
    return f"{now:%Y%m%dT%H%M%S%f}Z-p{os.getpid()}-{_PROCESS_TOKEN}-{n:06d}"


def segment_key(prefix: str, first_row: datetime, segment_id: str) -> str:
    """Store key of a segment whose first row was logged at ``first_row`` (UTC)."""
    d = first_row.astimezone(UTC)
    return f"{prefix}/{d:%Y}/{d:%m}/{d:%d}/{segment_id}.parquet"


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet bytes (zstd), ready for one PUT."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def feedback_table(labels: Sequence[tuple[str, str]], received: datetime) -> pa.Table:
    """Feedback rows (request_id, label), all stamped with the time they were received."""
    ts = pa.array([received.astimezone(UTC)] * len(labels), type=TIMESTAMP)
    return pa.table(
        [
            pa.array([r for r, _ in labels], type=pa.string()),
            pa.array([label for _, label in labels], type=pa.string()),
            ts,
        ],
        schema=FEEDBACK_SCHEMA,
    )


def _day_keys(store: ObjectStore, folder: str) -> list[str]:
    """Segment keys of one day folder, newest first."""
    names = sorted((n for n in store.children(folder) if n.endswith(".parquet")), reverse=True)
    return [f"{folder}/{n}" for n in names]


def newest_segment_keys(
    store: ObjectStore, prefix: str, since: datetime | None = None
) -> Iterator[str]:
    """Segment keys newest first, listing one day folder at a time (down to ``since``)."""
    # A segment's folder is the date of its first row, so its rows can reach into the next
    # day: keep one day of slack and filter the rows themselves by ts afterwards.
    first_day = None if since is None else (since.astimezone(UTC) - timedelta(days=1)).date()
    for _, folder in days_newest_first(store, prefix, first_day):
        yield from _day_keys(store, folder)


def has_feedback(store: ObjectStore) -> bool:
    """Whether any label has been stored (one listing of the newest day folder at most)."""
    return next(newest_segment_keys(store, FEEDBACK_PREFIX), None) is not None


def log_times(ts: pd.Series) -> pd.Series:
    """A log's ``ts`` column as UTC times. ``pd.to_datetime`` on a Series samples it for its
    cache first (boxing hundreds of Timestamps: most of a check's time in pandas once); the
    logged column is already a UTC datetime column."""
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.dt.tz_convert("UTC")
    return pd.to_datetime(ts, utc=True, cache=False)


def _segment_keys(store: ObjectStore, prefix: str, since: datetime | None) -> list[str]:
    """Segment keys oldest first (down to ``since``)."""
    return list(reversed(list(newest_segment_keys(store, prefix, since))))


def _read_segments(store: ObjectStore, keys: Iterable[str]) -> list[pd.DataFrame]:
    return [store.read_parquet(k) for k in keys]


def one_row_per_request(log: pd.DataFrame) -> pd.DataFrame:
    """``log`` (sorted by time) with each request id once: a reader that lists a day folder
    while ``driftloop compact`` merges it (merged file written, small segments not yet
    deleted), or after a compaction that crashed there, sees those rows twice."""
    if "request_id" not in log.columns or not log["request_id"].duplicated().any():
        return log
    return log.drop_duplicates("request_id", keep="first").reset_index(drop=True)


def _as_utc(since: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(since)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_inference_log(
    store: ObjectStore,
    since: datetime | None = None,
    limit_rows: int | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """Logged predictions, oldest first.

    ``since`` keeps rows logged at or after that time (naive datetimes are UTC);
    ``limit_rows`` keeps the newest that many rows (reading only the newest segments);
    ``model_version`` keeps rows served by that version (applied segment by segment, so a
    drift window reads only the segments it needs).
    Segments written by models with different features are concatenated; a feature a
    segment does not have is missing in its rows. An empty log is an empty frame.
    """
    frames: list[pd.DataFrame] = []
    if limit_rows is not None:
        got = 0
        for key in newest_segment_keys(store, INFERENCE_PREFIX, since):  # stop when enough
            frame = store.read_parquet(key)
            if since is not None:
                frame = frame[frame["ts"] >= _as_utc(since)]
            if model_version is not None:
                frame = frame[frame["model_version"].astype(str) == str(model_version)]
            frames.append(frame)
            got += len(frame)
            if got >= limit_rows:
                break
        frames.reverse()
    else:
        frames = _read_segments(store, _segment_keys(store, INFERENCE_PREFIX, since))
        if model_version is not None:
            frames = [f[f["model_version"].astype(str) == str(model_version)] for f in frames]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["request_id", "ts", "model_version", "source"])
    log = pd.concat(frames, ignore_index=True)
    if since is not None:
        log = log[log["ts"] >= _as_utc(since)]
    log = one_row_per_request(log.sort_values("ts", kind="stable").reset_index(drop=True))
    if limit_rows is not None:
        log = log.tail(limit_rows).reset_index(drop=True)
    return log


def read_feedback(store: ObjectStore, since: datetime | None = None) -> pd.DataFrame:
    """Ground-truth labels (request_id, label, ts), the newest label per request id."""
    frames = [
        f for f in _read_segments(store, _segment_keys(store, FEEDBACK_PREFIX, since)) if len(f)
    ]
    if not frames:
        return FEEDBACK_SCHEMA.empty_table().to_pandas()
    feedback = pd.concat(frames, ignore_index=True)
    if since is not None:
        feedback = feedback[feedback["ts"] >= _as_utc(since)]
    feedback = feedback.sort_values("ts", kind="stable")
    feedback = feedback.drop_duplicates("request_id", keep="last")
    return feedback.reset_index(drop=True)


SEGMENT_SPAN = timedelta(minutes=10)
"""How far a segment's rows may reach past the time its id starts with: none for the
server's segments (their id is the time they were written, after every row), one flush
interval for a writer that names a segment by its first row (5 s by default)."""


def _may_hold_since(key: str, cutoff: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    if len(name) < len(cutoff) or name[8] != "T":  # a compacted day file, or a foreign name
        return True
    return name[: len(cutoff)] >= cutoff


def read_recent_log(store: ObjectStore, since: datetime) -> pd.DataFrame:
    """Logged predictions at or after ``since``, oldest first, reading only the segments
    whose id time can reach it (``read_inference_log(since=...)`` reads every segment of the
    day folders it lists: a day of traffic for the last hour's)."""
    cutoff = f"{(since - SEGMENT_SPAN).astimezone(UTC):%Y%m%dT%H%M%S%f}Z"
    keys = [k for k in newest_segment_keys(store, INFERENCE_PREFIX, since)
            if _may_hold_since(k, cutoff)]  # fmt: skip
    frames = [f for f in _read_segments(store, reversed(keys)) if len(f)]
    if not frames:
        return pd.DataFrame(columns=["request_id", "ts", "model_version", "source"])
    log = pd.concat(frames, ignore_index=True)
    log = log[log["ts"] >= _as_utc(since)]
    return one_row_per_request(log.sort_values("ts", kind="stable").reset_index(drop=True))
