"""Windows too large to hold in memory (a day of traffic from many replicas), checked by
streaming the inference log's segments from the newest: batches of segments are read in
parallel threads (only the columns the check needs, as Arrow columns: ``adapters.log_columns``),
each counted on the reference's bins (``core.drift_sketch``) and dropped; the counts merge.
The verdicts are those of the exact statistics (scores within the sketch's stated tolerance);
no Evidently HTML is rendered for such a window.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.adapters.log_columns import read_log_columns
from driftloop.adapters.production_data import INFERENCE_PREFIX, newest_segment_keys
from driftloop.adapters.store import ObjectStore
from driftloop.config.spec import DatasetSpec
from driftloop.core.drift_reference import PreparedReference
from driftloop.core.drift_sketch import WindowSketch, new_sketch
from driftloop.core.null_thresholds import p_values
from driftloop.events.model import DriftWindow

if TYPE_CHECKING:
    from driftloop.jobs.detect import DetectResult, Serving

BATCH_SEGMENTS = 64
"""Segments read and counted together (one task of a reader thread)."""
READERS = max(2, min(4, os.cpu_count() or 2))
"""Reader threads: Parquet decoding, Arrow and most of numpy's counting release the GIL."""


@dataclass
class _Part:
    """One batch of segments, counted."""

    sketch: WindowSketch
    start: pd.Timestamp | None
    end: pd.Timestamp | None


def _batches(keys: Iterator[str]) -> Iterator[list[str]]:
    while batch := list(itertools.islice(keys, BATCH_SEGMENTS)):
        yield batch


def stream_window(
    store: ObjectStore,
    reference: PreparedReference,
    window_rows: int,
    model_version: str | None,
) -> tuple[WindowSketch, DriftWindow]:
    """The newest ``window_rows`` logged rows of a model version, summarised."""
    total = new_sketch(reference)
    features = (list(reference.numeric), list(reference.categorical))

    def count(keys: list[str], newest: int | None = None) -> _Part:
        columns = read_log_columns(store, keys, features, model_version, newest)
        part = WindowSketch.empty(reference, total.bins)
        part.add_columns(columns.rows, columns.numeric, columns.categorical)
        return _Part(part, columns.start, columns.end)

    starts, ends = [], []
    batches = _batches(newest_segment_keys(store, INFERENCE_PREFIX))
    with ThreadPoolExecutor(READERS, thread_name_prefix="window-reader") as pool:
        pending: deque[tuple[list[str], Future[_Part]]] = deque()
        while total.rows < window_rows:
            while len(pending) <= READERS and (batch := next(batches, None)) is not None:
                pending.append((batch, pool.submit(count, batch)))
            if not pending:
                break
            batch, future = pending.popleft()
            part = future.result()
            if total.rows + part.sketch.rows > window_rows:  # the newest rows of the oldest
                part = count(batch, newest=window_rows - total.rows)
            total.merge(part.sketch)
            starts += [part.start] if part.start is not None else []
            ends += [part.end] if part.end is not None else []
        for _, future in pending:
            future.cancel()
    window = DriftWindow(rows=total.rows, start=min(starts).isoformat() if starts else None,
                         end=max(ends).isoformat() if ends else None)  # fmt: skip
    return total, window


def detect_streamed(
    spec: DatasetSpec,
    store: ObjectStore,
    reference: tuple[pd.DataFrame, PreparedReference],
    window_rows: int,
    serving: Serving,
    started: float,
) -> DetectResult:
    """``detect`` on a streamed window: the same feature verdicts and decision as a small
    one (the prediction and performance signals need the rows: not computed here). In the
    calibrated mode each feature's threshold is calibrated at the rows the window turned
    out to have, and its p-value feeds Holm's retrain rule; the exact permutation test needs
    the rows, so the cached null decides alone here."""
    from driftloop.jobs.detect import (
        DetectResult,
        calibrated_reference,
        decide,
        judged,
        record_check,
        window_thresholds,
    )

    versions = serving.versions
    frame, prepared = reference
    sketch, window = stream_window(store, prepared, window_rows, versions[0])
    if window.rows == 0:
        return DetectResult(None, None, versions[0], versions[1], window, None, None,
                            "no logged production rows for the serving model yet",
                            time.perf_counter() - started)  # fmt: skip
    thresholds = window_thresholds(spec, store, frame, window.rows)
    sketch.reference = calibrated_reference(spec, prepared, thresholds)
    summary = sketch.summary()
    scores = {f.feature: f.score for f in summary.features}
    found = None if thresholds is None else p_values(thresholds, scores)
    decision = decide(spec, store, summary, serving, p_values=found)
    result = judged(store, summary, window, versions, decision)
    result.thresholds = thresholds or {}
    empty = pd.DataFrame()
    record_check(store, spec, result, (empty, empty), "never", started)
    return result
