"""Pure data preparation: clean, validate against the spec, split, describe, version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class CleaningSummary:
    """What cleaning changed, in counts."""

    rows_in: int
    rows_out: int
    blank_to_missing: dict[str, int] = field(default_factory=dict)
    invalid_to_missing: dict[str, int] = field(default_factory=dict)
    strings_stripped: int = 0
    duplicates_dropped: int = 0
    missing_target_dropped: int = 0
    columns_dropped: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _is_blank(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype(str).str.strip().eq("")


def _select_columns(raw: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The spec's features and target (names stripped); InputError naming a missing one."""
    frame = raw.copy()
    frame.columns = [str(c).strip() for c in raw.columns]
    if spec.target not in frame.columns:
        raise InputError(f"target column '{spec.target}' is not in the data")
    missing = [f for f in spec.features if f not in frame.columns]
    if missing:
        raise InputError(f"features in the spec but not in the data: {', '.join(missing)}")
    dropped = tuple(c for c in spec.drop_columns if c in frame.columns)
    return frame[[*spec.features, spec.target]], dropped


def _strip_strings(frame: pd.DataFrame, spec: DatasetSpec) -> int:
    """Strip categorical and target strings in place (blank becomes missing); count changes."""
    stripped = 0
    for col in [*spec.categorical_features, spec.target]:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            as_str = frame[col].where(frame[col].isna(), frame[col].astype(str))
            new = as_str.str.strip()
            stripped += int((new != as_str).fillna(False).sum())
            frame[col] = new.replace("", np.nan)
    return stripped


def _coerce_numeric(
    frame: pd.DataFrame, spec: DatasetSpec
) -> tuple[dict[str, int], dict[str, int]]:
    """Numeric features as float64 in place; counts of blanks and of invalid values per
    column; InputError when a column has more invalid values than the spec allows."""
    blank: dict[str, int] = {}
    invalid: dict[str, int] = {}
    for col in spec.numeric_features:
        raw_col = frame[col]
        was_blank = _is_blank(raw_col)
        numeric = pd.to_numeric(raw_col.astype(str).str.strip().where(~was_blank), errors="coerce")
        bad = numeric.isna() & ~was_blank
        n_blank = int((was_blank & raw_col.notna()).sum())
        if n_blank:
            blank[col] = n_blank
        n_bad = int(bad.sum())
        if n_bad:
            non_blank = int((~was_blank).sum())
            share = n_bad / max(non_blank, 1)
            if share > spec.max_invalid_share:
                examples = ", ".join(repr(v) for v in raw_col[bad].astype(str).unique()[:3])
                raise InputError(
                    f"numeric column '{col}' has {n_bad} non-numeric values ({share:.1%} of "
                    f"{non_blank}, above max_invalid_share {spec.max_invalid_share:.1%}), "
                    f"e.g. {examples}"
                )
            invalid[col] = n_bad
        frame[col] = numeric.astype("float64")
    return blank, invalid


def _encode_target_column(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    if spec.is_classification:
        frame[spec.target] = encode_target(frame[spec.target], spec)
    else:
        target = pd.to_numeric(frame[spec.target], errors="coerce")
        if target.isna().any():
            raise InputError(f"target column '{spec.target}' has non-numeric values")
        frame[spec.target] = target.astype("float64")


def clean_frame(raw: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, CleaningSummary]:
    """Validate columns, coerce types and drop bad rows; raise InputError naming a problem."""
    frame, dropped = _select_columns(raw, spec)
    rows_in = len(frame)
    stripped = _strip_strings(frame, spec)
    blank, invalid = _coerce_numeric(frame, spec)
    for col in spec.categorical_features:
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)

    no_target = frame[spec.target].isna()
    frame = frame[~no_target]
    before = len(frame)
    frame = frame.drop_duplicates()
    duplicates = before - len(frame)
    frame = frame.reset_index(drop=True)
    _encode_target_column(frame, spec)
    if len(frame) < 20:
        raise InputError(f"only {len(frame)} usable rows after cleaning; need at least 20")

    summary = CleaningSummary(
        rows_in=rows_in,
        rows_out=len(frame),
        blank_to_missing=blank,
        invalid_to_missing=invalid,
        strings_stripped=stripped,
        duplicates_dropped=duplicates,
        missing_target_dropped=int(no_target.sum()),
        columns_dropped=dropped,
    )
    return frame, summary


def encode_target(values: pd.Series, spec: DatasetSpec) -> pd.Series:
    """Map a binary target to 0/1 with the spec's positive class as 1."""
    labels = values.astype(str).str.strip()
    classes = sorted(labels.unique())
    if len(classes) < 2:
        raise InputError(
            f"target column '{spec.target}' has one class ({classes[0] if classes else 'none'});"
            " binary classification needs two"
        )
    if len(classes) > 2:
        raise InputError(
            f"target column '{spec.target}' has {len(classes)} classes "
            f"({', '.join(classes[:5])}); binary classification needs two"
        )
    if spec.positive_class not in classes:
        raise InputError(
            f"positive_class {spec.positive_class!r} not among target values {classes}"
        )
    return (labels == spec.positive_class).astype("int64")


def split_frame(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, pd.DataFrame]:
    """Train / valid / test split, stratified on the target for classification."""
    cfg = spec.split
    strat = frame[spec.target] if spec.is_classification else None
    rest, test = train_test_split(frame, test_size=cfg.test, random_state=cfg.seed, stratify=strat)
    parts = {"test": test}
    if cfg.valid > 0:
        strat_rest = rest[spec.target] if spec.is_classification else None
        train, valid = train_test_split(
            rest,
            test_size=cfg.valid / (cfg.train + cfg.valid),
            random_state=cfg.seed,
            stratify=strat_rest,
        )
        parts.update(train=train, valid=valid)
    else:
        parts.update(train=rest, valid=rest.iloc[0:0])
    return {k: parts[k].reset_index(drop=True) for k in SPLITS}


def sample_reference(train: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The reference sample kept for drift detection (a seeded sample of training rows)."""
    n = min(spec.split.reference_rows, len(train))
    return train.sample(n=n, random_state=spec.split.seed).reset_index(drop=True)


def describe_schema(frame: pd.DataFrame, spec: DatasetSpec, classes: list[str]) -> dict[str, Any]:
    """schema.json: feature names, types, categories seen and ranges."""
    features: list[dict[str, Any]] = []
    for col in spec.numeric_features:
        s = frame[col]
        features.append(
            {
                "name": col,
                "kind": "numeric",
                "dtype": "float64",
                "min": _num(s.min()),
                "max": _num(s.max()),
                "mean": _num(s.mean()),
                "missing_share": float(s.isna().mean()),
            }
        )
    for col in spec.categorical_features:
        s = frame[col]
        features.append(
            {
                "name": col,
                "kind": "categorical",
                "dtype": "string",
                "categories": sorted(str(v) for v in s.dropna().unique()),
                "missing_share": float(s.isna().mean()),
            }
        )
    target: dict[str, Any] = {"name": spec.target, "task": spec.task}
    if spec.is_classification:
        target.update(classes=classes, positive_class=spec.positive_class)
    return {"dataset": spec.name, "features": features, "target": target}


def _num(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def target_classes(raw: pd.Series, spec: DatasetSpec) -> list[str]:
    """The two class labels, negative first."""
    labels = sorted(raw.dropna().astype(str).str.strip().unique())
    return sorted(labels, key=lambda v: v == spec.positive_class)


def dataset_version(source_sha256: str, spec: DatasetSpec) -> str:
    """Content hash of the source bytes and the spec parts that shape the prepared data."""
    shaping = spec.model_dump(
        mode="json",
        include={
            "task",
            "target",
            "positive_class",
            "numeric_features",
            "categorical_features",
            "drop_columns",
            "split",
            "max_invalid_share",
        },
    )
    payload = json.dumps({"source": source_sha256, "spec": shaping}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def features_and_target(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, Any]:
    """The feature columns (in spec order) and the target values of a prepared frame."""
    return frame[list(spec.features)], frame[spec.target].to_numpy()
