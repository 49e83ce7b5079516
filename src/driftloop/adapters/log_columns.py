"""Inference-log segments read column by column for counting: Arrow, never pandas rows.

A window too large to hold (``jobs.large_window``) is counted a batch of segments at a time.
This reads one batch (only the checked columns; Parquet decoding and Arrow compute run
outside the GIL, so batches read in parallel threads), keeps the rows one model version
served, and hands back what counting needs: a float array per numeric feature and value
counts per categorical one. No Python object is made per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from driftloop.adapters.store import ObjectStore

TS, MODEL_VERSION = "ts", "model_version"
_PARQUET_NS = {"milliseconds": 10**6, "microseconds": 10**3, "nanoseconds": 1}
_ARROW_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
"""Nanoseconds per unit of a timestamp, as Parquet and Arrow name the units."""


@dataclass(frozen=True)
class LogColumns:
    """Some logged rows, column by column."""

    rows: int
    start: pd.Timestamp | None
    """The earliest ``ts`` (UTC), None when no row has one."""
    end: pd.Timestamp | None
    numeric: dict[str, np.ndarray]
    """Float values per numeric feature, NaN where missing or not a number."""
    categorical: dict[str, dict[Any, int]]
    """Value counts per categorical feature (missing values under None or NaN: the sketch
    leaves them out)."""


def read_log_columns(
    store: ObjectStore,
    keys: Sequence[str],
    features: tuple[Sequence[str], Sequence[str]],
    model_version: str | None = None,
    newest: int | None = None,
) -> LogColumns:
    """The rows of the segments ``keys`` (those ``model_version`` served, when given) for the
    (numeric, categorical) ``features``; with ``newest``, only that many of the latest rows.

    A feature a segment lacks is missing in its rows; numeric features stored as text are
    read as pandas reads them (``pd.to_numeric(errors="coerce")``). Where segments disagree
    on a categorical column's type, it is read as text in all of them.
    """
    numeric, categorical = features
    segments = [_segment(data, features, model_version, keep_ts=newest is not None)
                for data in store.read_many(keys)]  # fmt: skip
    table = _concat([s.table for s in segments] or [pa.table({})])
    if newest is not None:
        table = _newest(table, newest)
        span = _span(table.column(TS)) if TS in table.column_names else None
    else:
        spans = [s.span for s in segments if s.span is not None]
        span = (min(lo for lo, _ in spans), max(hi for _, hi in spans)) if spans else None
    start, end = (None, None) if span is None else (_utc(span[0]), _utc(span[1]))
    present, rows = set(table.column_names), table.num_rows
    return LogColumns(
        rows,
        start,
        end,
        {n: _as_float(table.column(n) if n in present else None, rows) for n in numeric},
        {n: _value_counts(table.column(n)) if n in present else {} for n in categorical},
    )


Span = tuple[int, int]
"""The earliest and latest ``ts`` of some rows, in nanoseconds since the epoch (UTC)."""


@dataclass(frozen=True)
class _Segment:
    table: pa.Table
    span: Span | None


def _segment(
    data: bytes,
    features: tuple[Sequence[str], Sequence[str]],
    model_version: str | None,
    keep_ts: bool,
) -> _Segment:
    """One segment's feature columns (categorical ones dictionary-encoded, as Parquet keeps
    them), the rows ``model_version`` served, and its time range.

    The version and the time range come from the row groups' statistics when they say
    enough (one version throughout; min and max ``ts``), so those columns are not decoded.
    """
    numeric, categorical = features
    parquet = _open(data, categorical)
    metadata = parquet.metadata
    names = metadata.schema.names
    served, version_read = _served_from_statistics(metadata, names, model_version)
    if served is False:  # another version's segment: nothing to decode
        return _Segment(pa.table({}), None)
    span, decode_ts = None, TS in names
    if decode_ts and not (keep_ts or version_read):
        # With rows of other versions in it, the segment's own time range is not the rows'.
        span = _span_from_statistics(metadata, names.index(TS))
        decode_ts = span is None
    wanted = [n for n in (*numeric, *categorical) if n in names]
    extra = [c for c, need in ((TS, decode_ts), (MODEL_VERSION, version_read)) if need]
    table = parquet.read(columns=wanted + extra, use_threads=False)
    # The pandas metadata makes every column lookup by name slow; counting does not need it.
    table = _text_as_numbers(table.replace_schema_metadata(None), numeric)
    if version_read:
        table = _served_by(table, model_version).drop_columns([MODEL_VERSION])
    if decode_ts and not keep_ts:
        span = _span(table.column(TS))
        table = table.drop_columns([TS])
    return _Segment(table, span)


def _open(data: bytes, categorical: Sequence[str]) -> pq.ParquetFile:
    """The segment, its categorical columns to be read dictionary-encoded."""
    try:
        return pq.ParquetFile(pa.BufferReader(data), read_dictionary=categorical)
    except KeyError:  # a segment without some of them
        names = set(pq.ParquetFile(pa.BufferReader(data)).schema_arrow.names)
        return pq.ParquetFile(
            pa.BufferReader(data), read_dictionary=[c for c in categorical if c in names]
        )


def _served_from_statistics(
    metadata: pq.FileMetaData, names: list[str], model_version: str | None
) -> tuple[bool | None, bool]:
    """(True: every row served by ``model_version``, False: none, None: unknown) and whether
    the version column must be read to tell."""
    if model_version is None:
        return True, False
    if MODEL_VERSION not in names:
        return False, False
    column = names.index(MODEL_VERSION)
    versions = set()
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if (stats is None or not stats.has_min_max or not stats.has_null_count
                or stats.null_count or stats.min != stats.max):  # fmt: skip
            return None, True
        versions.add(str(stats.min))
    if versions == {str(model_version)}:
        return True, False
    return (False, False) if str(model_version) not in versions else (None, True)


def _span_from_statistics(metadata: pq.FileMetaData, column: int) -> Span | None:
    """The segment's ``ts`` span from its row groups' statistics (None: they do not say)."""
    kind = json.loads(metadata.schema.column(column).logical_type.to_json())
    unit = _PARQUET_NS.get(kind.get("timeUnit")) if kind.get("Type") == "Timestamp" else None
    if unit is None:  # stored as something else (text, INT96): decode the column
        return None
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min_raw)
        highs.append(stats.max_raw)
    return (min(lows) * unit, max(highs) * unit) if lows else None


def _concat(tables: list[pa.Table]) -> pa.Table:
    """The segments as one table: missing columns as nulls, numbers widened."""
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        types: dict[str, set[pa.DataType]] = {}
        for t in tables:
            for field in t.schema:
                types.setdefault(field.name, set()).add(field.type)
        mixed = {name for name, kinds in types.items() if len(kinds) > 1}
        return pa.concat_tables([_as_text(t, mixed) for t in tables], promote_options="permissive")


def _as_text(table: pa.Table, names: set[str]) -> pa.Table:
    for i, name in enumerate(table.column_names):
        if name in names:
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table


def _served_by(table: pa.Table, model_version: str | None) -> pa.Table:
    if model_version is None:
        return table
    if MODEL_VERSION not in table.column_names:
        return table.slice(0, 0)
    column = table.column(MODEL_VERSION)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        served = pc.equal(column, str(model_version))
    else:
        served = pa.array(column.to_pandas().astype(str) == str(model_version))
    if pc.all(served).as_py():
        return table
    return table.filter(served)


def _newest(table: pa.Table, rows: int) -> pa.Table:
    if table.num_rows <= rows:
        return table
    order = pc.sort_indices(table, sort_keys=[(TS, "ascending")])  # stable
    return table.take(order[table.num_rows - rows :])


def _text_as_numbers(table: pa.Table, numeric: Sequence[str]) -> pa.Table:
    """Numeric features stored as something else (text) made floats, segment by segment,
    so they concatenate with the others."""
    for i, field in enumerate(table.schema):
        if field.name in numeric and not _is_number(field.type):
            values = _as_float(table.column(i), table.num_rows)
            table = table.set_column(i, field.name, pa.array(values, pa.float64()))
    return table


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind)


def _as_float(column: pa.ChunkedArray | None, rows: int) -> np.ndarray:
    if column is None:
        return np.full(rows, np.nan)
    kind = column.type
    if _is_number(kind):
        return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64)
    if pa.types.is_null(kind):
        return np.full(rows, np.nan)
    # Text and other types: what pandas can read as a number, as the exact check does.
    values = pd.to_numeric(column.to_pandas(), errors="coerce")
    return np.asarray(values.to_numpy(np.float64, na_value=np.nan))


def _value_counts(column: pa.ChunkedArray) -> dict[Any, int]:
    counts = pc.value_counts(column)
    values = counts.field("values").to_pylist()
    return dict(zip(values, counts.field("counts").to_pylist(), strict=True))


def _span(column: pa.ChunkedArray) -> Span | None:
    if pa.types.is_timestamp(column.type):
        bounds = pc.min_max(column.cast(pa.int64()))
        low, high = bounds["min"], bounds["max"]
        if not low.is_valid:
            return None
        unit = _ARROW_NS[column.type.unit]
        return low.as_py() * unit, high.as_py() * unit
    ts = pd.to_datetime(column.to_pandas(), utc=True, errors="coerce")
    low, high = ts.min(), ts.max()
    return None if pd.isna(low) else (low.value, high.value)


def _utc(ns: int) -> pd.Timestamp:
    # Zoned timestamps are kept as UTC instants; naive ones are taken as UTC, as
    # pd.to_datetime(utc=True) takes them.
    return pd.Timestamp(ns, unit="ns").tz_localize("UTC")
