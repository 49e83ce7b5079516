"""Drifted traffic for demos and tests: pure transformations of held-out rows.

``simulate_drift`` samples rows of a frame (the champion dataset's test split) and changes
them the way production data drifts. It only computes: the service sends the result
through its normal predict path, so simulated requests are logged and monitored like real
ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd

DriftType = Literal["none", "numerical_shift", "categorical_shift", "missing_values",
                    "new_category"]  # fmt: skip
DRIFT_TYPES: tuple[str, ...] = get_args(DriftType)

SHIFT_FACTOR = 1.5
"""numerical_shift multiplies continuous features by this (the tutorial's ``* 1.5``) …"""
SHIFT_RANGE_SHARE = 0.2
"""… and adds this share of the column's range (``+ 20`` for monthly charges of ~18-118)."""
CATEGORICAL_SHIFT_SHARE = 0.75
"""categorical_shift moves this share of rows to the column's rarest category."""
MISSING_SHARE = 0.3
"""missing_values blanks this share of cells of every feature."""
NEW_CATEGORY_SHARE = 0.5
"""new_category gives this share of rows a category the model never saw."""


def sample_rows(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows of a frame in random order (with replacement only when n exceeds its rows)."""
    if len(frame) == 0:
        raise ValueError("no rows to sample from")
    idx = rng.choice(len(frame), size=n, replace=n > len(frame))
    return frame.iloc[idx].reset_index(drop=True)


def _continuous(series: pd.Series) -> bool:
    return series.dropna().nunique() > 2  # 0/1 flags do not "shift"; they flip


def new_category_label(feature: str) -> str:
    """The unseen category ``new_category`` writes into a feature."""
    return f"new-{feature}"


def apply_drift(
    frame: pd.DataFrame,
    drift_type: DriftType,
    numeric: Sequence[str],
    categorical: Sequence[str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """A drifted copy of ``frame``; missing values become None (JSON null)."""
    if drift_type not in DRIFT_TYPES:
        raise ValueError(f"unknown drift type {drift_type!r}; one of {', '.join(DRIFT_TYPES)}")
    out = frame.copy()
    n = len(out)
    for col in numeric:
        out[col] = out[col].astype("float64")
    if drift_type == "numerical_shift":
        for col in numeric:
            if _continuous(out[col]):
                span = float(out[col].max() - out[col].min())
                out[col] = out[col] * SHIFT_FACTOR + SHIFT_RANGE_SHARE * span
    elif drift_type == "categorical_shift":
        for col in categorical:
            counts = out[col].dropna().value_counts()
            if len(counts) < 2:
                continue
            rarest = counts.sort_index().idxmin()  # sort first: ties resolve the same way
            moved = rng.random(n) < CATEGORICAL_SHIFT_SHARE
            out.loc[moved, col] = rarest
    elif drift_type == "missing_values":
        for col in [*numeric, *categorical]:
            blank = rng.random(n) < MISSING_SHARE
            out[col] = out[col].astype(object)
            out.loc[blank, col] = None
    elif drift_type == "new_category":
        for col in categorical:
            fresh = rng.random(n) < NEW_CATEGORY_SHARE
            out.loc[fresh, col] = new_category_label(col)
    for col in [*numeric, *categorical]:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def simulate_drift(
    frame: pd.DataFrame,
    drift_type: DriftType,
    n: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int | None = None,
) -> pd.DataFrame:
    """n drifted rows sampled from ``frame`` (other columns, e.g. the target, kept as-is)."""
    rng = np.random.default_rng(seed)
    return apply_drift(sample_rows(frame, n, rng), drift_type, numeric, categorical, rng)
