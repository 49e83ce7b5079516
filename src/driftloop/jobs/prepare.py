"""``driftloop prepare``: raw file -> versioned dataset in the object store."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import DatasetVersion, set_latest, write_dataset
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec
from driftloop.core.prepare import (
    CleaningSummary,
    clean_frame,
    dataset_version,
    describe_schema,
    sample_reference,
    sha256_hex,
    split_frame,
    target_classes,
)


@dataclass(frozen=True)
class PrepareResult:
    """What prepare did."""

    version: str
    created: bool
    rows: dict[str, int]
    cleaning: CleaningSummary
    uri: str


def read_source(path: Path) -> tuple[pd.DataFrame, bytes]:
    """Read a CSV or Parquet file; InputError when it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"source file not found: {path}")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(io.BytesIO(data))
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        else:
            raise InputError(f"source {path} must be .csv or .parquet")
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        raise InputError(f"could not read {path}: {exc}") from exc
    if frame.empty:
        raise InputError(f"source {path} has no rows")
    return frame, data


def prepare_dataset(spec: DatasetSpec, store: ObjectStore) -> PrepareResult:
    """Clean, validate, split and write a dataset version; same input, same version."""
    raw, raw_bytes = read_source(spec.source)
    source_sha = sha256_hex(raw_bytes)
    frame, summary = clean_frame(raw, spec)
    version = dataset_version(source_sha, spec)
    ds = DatasetVersion(store, version)
    splits = split_frame(frame, spec)
    rows = {k: len(v) for k, v in splits.items()}
    if ds.exists():
        set_latest(store, version)
        rows["reference"] = int(ds.manifest()["files"]["reference.parquet"]["rows"])
        return PrepareResult(version, False, rows, summary, store.uri(ds.key("")))
    frames = {**splits, "reference": sample_reference(splits["train"], spec)}
    rows["reference"] = len(frames["reference"])
    schema = describe_schema(frame, spec, target_classes(raw[spec.target], spec))
    extra: dict[str, Any] = {
        "dataset": spec.name,
        "source": {"path": str(spec.source), "sha256": source_sha, "bytes": len(raw_bytes)},
        "cleaning": summary.to_dict(),
        "spec": spec.model_dump(mode="json", exclude={"source"}),
        "parent": None,
    }
    write_dataset(store, version, frames, schema, extra)
    set_latest(store, version)
    return PrepareResult(version, True, rows, summary, store.uri(ds.key("")))
