"""Windows too large to hold in memory (a day of traffic from many replicas), checked by
streaming the inference log's segments from the newest: each batch of segments is read in
parallel (only the columns the check needs), counted on the reference's bins
(``core.drift_sketch``) and dropped. The verdicts are those of the exact statistics (scores
within the sketch's stated tolerance); no Evidently HTML is rendered for such a window.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd

from driftloop.adapters.production_data import INFERENCE_PREFIX, newest_segment_keys
from driftloop.adapters.store import ObjectStore
from driftloop.config.spec import DatasetSpec
from driftloop.core.drift_reference import PreparedReference
from driftloop.core.drift_sketch import WindowSketch, new_sketch
from driftloop.events.model import DriftWindow

if TYPE_CHECKING:
    from driftloop.jobs.detect import DetectResult, Serving

BATCH_SEGMENTS = 64
"""Segments read (in parallel) and counted together."""
READERS = 2


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
    columns = ["ts", "model_version", *reference.numeric, *reference.categorical]

    def read(key: str) -> pd.DataFrame:
        frame = store.read_parquet(key, columns)
        if model_version is not None:
            frame = frame[frame["model_version"].astype(str) == str(model_version)]
        return frame

    sketch = new_sketch(reference)
    got, start, end = 0, None, None
    with ThreadPoolExecutor(READERS, thread_name_prefix="window-reader") as pool:
        for batch in _batches(newest_segment_keys(store, INFERENCE_PREFIX)):
            frames = [f for f in pool.map(read, batch) if len(f)]
            if not frames:
                continue
            rows = pd.concat(frames, ignore_index=True)
            if got + len(rows) > window_rows:  # the newest rows of the oldest segments
                rows = rows.sort_values("ts", kind="stable").tail(window_rows - got)
            ts = pd.to_datetime(rows["ts"], utc=True)
            start = ts.min() if start is None else min(start, ts.min())
            end = ts.max() if end is None else max(end, ts.max())
            sketch.add(rows)
            got += len(rows)
            if got >= window_rows:
                break
    window = DriftWindow(rows=got, start=None if start is None else start.isoformat(),
                         end=None if end is None else end.isoformat())  # fmt: skip
    return sketch, window


def detect_streamed(
    spec: DatasetSpec,
    store: ObjectStore,
    reference: PreparedReference,
    window_rows: int,
    serving: Serving,
    started: float,
) -> DetectResult:
    """``detect`` on a streamed window: the same feature verdicts and decision as a small
    one (the prediction and performance signals need the rows: not computed here)."""
    from driftloop.jobs.detect import DetectResult, decide, judged, record_check

    versions = serving.versions
    sketch, window = stream_window(store, reference, window_rows, versions[0])
    if window.rows == 0:
        return DetectResult(None, None, versions[0], versions[1], window, None, None,
                            "no logged production rows for the serving model yet",
                            time.perf_counter() - started)  # fmt: skip
    summary = sketch.summary()
    result = judged(store, summary, window, versions, decide(spec, store, summary, serving))
    empty = pd.DataFrame()
    record_check(store, spec, result, (empty, empty), "never", started)
    return result
