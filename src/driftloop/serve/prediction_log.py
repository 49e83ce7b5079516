"""The prediction log: every prediction, buffered in memory, flushed to the store in segments.

The request path appends one flat tuple per prediction to a bounded list under a lock
(PITFALLS: an ever-growing list of dicts caused 240 ms garbage collections). A background
task swaps the list out by size or by time and writes it, in a thread, as one Parquet
segment (see ``driftloop.adapters.production_data`` for the layout); segments spool to local disk
while the store is unreachable and are uploaded when it returns. A full buffer drops rows
and counts them: logging never fails or blocks a prediction.

Row layout: ``(request_id, ts, model_version, source, *features, prediction, probability)``
with ``ts`` as POSIX seconds. The layout (features and their kinds) belongs to the model
that made the prediction; when a reload changes it, the buffer is cut so that every
segment has one schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    TIMESTAMP,
    new_segment_id,
    parquet_bytes,
    segment_key,
)
from driftloop.serve.spool import SegmentWriter
from driftloop.serve.telemetry import Telemetry

log = logging.getLogger("driftloop.serve.prediction_log")
FlushListener = Callable[[int], None]
_HEAD = ("request_id", "ts", "model_version", "source")


@dataclass(frozen=True)
class LogLayout:
    """Columns of the rows one model logs: its features (name, kind) and its task."""

    features: tuple[tuple[str, str], ...]
    classification: bool
    schema: pa.Schema = field(init=False, compare=False)

    def __post_init__(self) -> None:
        cols = [
            pa.field("request_id", pa.string()),
            pa.field("ts", TIMESTAMP),
            pa.field("model_version", pa.string()),
            pa.field("source", pa.string()),
        ]
        for name, kind in self.features:
            cols.append(pa.field(name, pa.float64() if kind == "numeric" else pa.string()))
        cols.append(pa.field("prediction", pa.string() if self.classification else pa.float64()))
        cols.append(pa.field("probability", pa.float64()))
        object.__setattr__(self, "schema", pa.schema(cols))

    def to_table(self, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
        """Rows as an Arrow table with this layout's schema.

        Built one column at a time with ``time.sleep(0)`` in between: this runs in the
        flusher's thread and holds the GIL, and yielding after each small step lets the
        event loop answer requests instead of waiting out a whole table (p99 latency).
        """
        width = len(self.schema)
        if any(len(r) != width for r in rows):
            raise ValueError(f"rows must have {width} values")
        arrays = []
        for i, f in enumerate(self.schema):
            col = [r[i] for r in rows]
            if f.name == "ts":
                micros = (np.fromiter(col, np.float64, len(col)) * 1e6).astype(np.int64)
                arrays.append(pa.array(micros, type=TIMESTAMP))
            else:  # from_pandas: NaN is a missing value, like None
                arrays.append(pa.array(col, type=f.type, from_pandas=True))
            time.sleep(0)
        return pa.Table.from_arrays(arrays, schema=self.schema)


@dataclass(frozen=True)
class FlushResult:
    """What one flush did."""

    written_rows: int = 0
    spooled_rows: int = 0
    segments: tuple[str, ...] = ()


class PredictionLog:
    """Bounded buffer of prediction rows with a background flusher."""

    def __init__(
        self,
        writer: SegmentWriter,
        telemetry: Telemetry,
        *,
        max_rows: int,
        flush_rows: int,
        flush_interval_s: float,
    ) -> None:
        self.writer = writer
        self.telemetry = telemetry
        self.max_rows = max(1, max_rows)
        self.flush_rows = max(1, flush_rows)
        self.flush_interval_s = flush_interval_s
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one writer at a time keeps segments in order
        self._rows: list[tuple[Any, ...]] = []
        self._layout: LogLayout | None = None
        self._cut: list[tuple[LogLayout, list[tuple[Any, ...]]]] = []
        self._cut_rows = 0
        self._last_flush = time.monotonic()
        self._listeners: list[FlushListener] = []
        self._task: asyncio.Task[None] | None = None
        self._spool_waiting = True  # try any spool left by an earlier process right away
        self._dropped = 0  # request threads and the flusher's thread count: under self._lock

    @property
    def dropped(self) -> int:
        """Rows dropped so far: the buffer was full, or a segment could not be built."""
        return self._dropped

    def _count_dropped(self, rows: int) -> None:  # holds self._lock
        self._dropped += rows
        self.telemetry.log_rows_dropped.inc(rows)

    # -- request path ----------------------------------------------------------------------
    def append(self, layout: LogLayout, row: tuple[Any, ...]) -> bool:
        """Buffer one row; False (and counted) when the buffer is full."""
        with self._lock:
            if layout is not self._layout:
                self._switch_layout(layout)
            if len(self._rows) + self._cut_rows >= self.max_rows:
                self._count_dropped(1)
                return False
            self._rows.append(row)
            return True

    def extend(self, layout: LogLayout, rows: Sequence[tuple[Any, ...]]) -> int:
        """Buffer many rows; returns how many fitted (the rest are dropped and counted)."""
        with self._lock:
            if layout is not self._layout:
                self._switch_layout(layout)
            room = max(0, self.max_rows - len(self._rows) - self._cut_rows)
            accepted = rows if len(rows) <= room else rows[:room]
            self._rows.extend(accepted)
            if len(accepted) < len(rows):
                self._count_dropped(len(rows) - len(accepted))
        return len(accepted)

    def _switch_layout(self, layout: LogLayout) -> None:  # holds self._lock
        if self._rows and self._layout is not None:
            if layout == self._layout:  # an equal layout from a reloaded model: keep going
                self._layout = layout
                return
            self._cut.append((self._layout, self._rows))
            self._cut_rows += len(self._rows)
            self._rows = []
        self._layout = layout

    @property
    def buffered(self) -> int:
        """Rows waiting for the next flush."""
        return len(self._rows) + self._cut_rows

    # -- flushing --------------------------------------------------------------------------
    def add_flush_listener(self, listener: FlushListener) -> None:
        """Call ``listener(rows)`` on the event loop after rows reach the store.

        The in-server drift monitor uses this to learn how many new rows it can read
        (``read_inference_log``). Listeners must be quick (start a task for real work); an
        exception in one is logged and does not stop logging.
        """
        self._listeners.append(listener)

    def _take(self) -> list[tuple[LogLayout, list[tuple[Any, ...]]]]:
        with self._lock:
            batches = self._cut
            if self._rows and self._layout is not None:
                batches = [*batches, (self._layout, self._rows)]
            self._cut, self._cut_rows, self._rows = [], 0, []
        return batches

    def flush(self) -> FlushResult:
        """Write everything buffered now, then try the spool (blocking: runs in a thread).

        Listeners are not called here but by ``flush_async``, on the loop.
        """
        with self._flush_lock:
            self._last_flush = time.monotonic()
            written = spooled = 0
            keys: list[str] = []
            for layout, rows in self._take():
                try:
                    table = layout.to_table(rows)
                except (pa.ArrowException, ValueError, TypeError) as exc:
                    # A value of the wrong type would poison the segment: say so, drop it.
                    log.error(
                        "cannot build log segment; rows dropped",
                        extra={"rows": len(rows), "error": str(exc)},
                    )
                    with self._lock:
                        self._count_dropped(len(rows))
                    continue
                first = datetime.fromtimestamp(rows[0][1], UTC)
                key = segment_key(INFERENCE_PREFIX, first, new_segment_id())
                if self.writer.write(key, parquet_bytes(table)):
                    written += len(rows)
                    self.telemetry.log_rows_written.inc(len(rows))
                else:
                    spooled += len(rows)
                    self.telemetry.log_rows_spooled.inc(len(rows))
                keys.append(key)
                log.debug("log segment", extra={"key": key, "rows": len(rows)})
            # the spool, oldest first: a probe of the store while it is down (when due)
            uploaded = self.writer.upload_spool()
            from_spool = sum(u.rows for u in uploaded if u.key.startswith(INFERENCE_PREFIX))
            if from_spool:
                self.telemetry.log_rows_written.inc(from_spool)
            written += from_spool
            waiting = len(self.writer.spooled())
            self.telemetry.log_segments_spooled.set(waiting)
            self.telemetry.log_buffered_rows.set(self.buffered)
            self.telemetry.store_up.set(0 if self.writer.store_down else 1)
        self._spool_waiting = bool(waiting)
        return FlushResult(written, spooled, tuple(keys))

    async def flush_async(self) -> FlushResult:
        """``flush`` in a thread, then tell the listeners how many rows reached the store."""
        result = await asyncio.to_thread(self.flush)
        if result.written_rows:
            self._notify(result.written_rows)
        return result

    def _notify(self, rows: int) -> None:
        for listener in self._listeners:
            try:
                listener(rows)
            except Exception:  # noqa: BLE001 - a listener must not stop the log
                log.exception("flush listener failed", extra={"listener": repr(listener)})

    def _due(self) -> bool:
        waited = time.monotonic() - self._last_flush
        return self.buffered >= self.flush_rows or (
            waited >= self.flush_interval_s and (self.buffered > 0 or self._spool_waiting)
        )

    async def run(self) -> None:
        """Flush by size and by time until cancelled (also uploads spool at start-up)."""
        tick = min(0.2, max(self.flush_interval_s, 0.01))
        self._last_flush = 0.0
        while True:
            if self._due():
                try:
                    await self.flush_async()
                except Exception:  # noqa: BLE001 - e.g. a full disk: keep serving, retry
                    log.exception("prediction-log flush failed")
            await asyncio.sleep(tick)

    def start(self) -> None:
        """Start the background flusher on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="prediction-log")

    async def close(self) -> FlushResult:
        """Stop the flusher and write what is left (spooling it if the store is down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return await self.flush_async()
