"""Drifted traffic for demos and tests: pure transformations of held-out rows.

``simulate_drift`` samples rows of a frame (the champion dataset's test split) and changes
them the way production data drifts. It only computes: the service sends the result
through its normal predict path, so simulated requests are logged and monitored like real
ones.

Three types change what only labels or successive windows show: ``concept`` keeps the
features as drawn and changes the labels' relation to them (only the performance signals
can see it), ``gradual`` is ``numerical_shift`` scaled by how far along a run of calls it is,
and ``prior`` moves the class balance (regression: the share of high targets) while keeping
each class's features as they are. ``shift_and_concept`` is both ``numerical_shift`` and
``concept``: the inputs move and the relation with them (prices rise and who churns changes
with them), which input drift, realised performance and a retrain can all see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd

DriftType = Literal["none", "numerical_shift", "categorical_shift", "missing_values",
                    "new_category", "concept", "gradual", "prior",
                    "shift_and_concept"]  # fmt: skip
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
CONCEPT_FLIP_SHARE = 0.7
"""concept (classification) flips this share of labels where the driver is above its median."""
CONCEPT_SHIFT_STDS = 1.0
"""concept (regression) adds this many target standard deviations there."""
GRADUAL_STEPS = 10
"""gradual reaches the full numerical_shift at this call (1/10 of it at the first)."""
PRIOR_POSITIVE_SHARE = 0.6
"""prior draws this share of rows from the positive class (regression: the top half)."""


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


def gradual_intensity(step: int) -> float:
    """How much of the full shift the ``step``-th gradual call (1, 2, ...) applies."""
    if step < 1:
        raise ValueError(f"gradual step must be 1 or more, not {step}")
    return min(1.0, step / GRADUAL_STEPS)


def _shift_numeric(out: pd.DataFrame, numeric: Sequence[str], intensity: float) -> None:
    for col in numeric:
        if _continuous(out[col]):
            span = float(out[col].max() - out[col].min())
            factor = 1.0 + (SHIFT_FACTOR - 1.0) * intensity
            out[col] = out[col] * factor + SHIFT_RANGE_SHARE * span * intensity


def concept_driver(frame: pd.DataFrame, numeric: Sequence[str], target: str) -> str:
    """The continuous numeric feature most correlated with the target: concept drift changes
    the labels of rows where it is above its median (a deterministic choice per frame)."""
    y = pd.to_numeric(frame[target], errors="coerce")
    best, best_corr = "", -1.0
    for col in numeric:
        x = pd.to_numeric(frame[col], errors="coerce")
        if not _continuous(x):
            continue
        corr = abs(float(x.corr(y))) if x.std() and y.std() else 0.0
        if corr == corr and corr > best_corr:
            best, best_corr = col, corr
    if not best:
        raise ValueError("concept drift needs a continuous numeric feature")
    return best


def change_concept(
    rows: pd.DataFrame, source: pd.DataFrame, numeric: Sequence[str], target: str,
    classification: bool, rng: np.random.Generator,
) -> pd.DataFrame:  # fmt: skip
    """The rows with labels from a changed relation: where the driver feature (chosen on
    ``source``, the frame they were drawn from) is above its median there, labels flip
    (classification, a share of them) or rise (regression)."""
    if target not in source.columns:
        raise ValueError(f"concept drift needs the target column {target!r}")
    out = rows.copy()
    driver = concept_driver(source, numeric, target)
    cut = float(pd.to_numeric(source[driver], errors="coerce").median())
    region = (pd.to_numeric(out[driver], errors="coerce") > cut).to_numpy()
    if classification:
        flip = region & (rng.random(len(out)) < CONCEPT_FLIP_SHARE)
        y = out[target].to_numpy().astype(int)
        out[target] = np.where(flip, 1 - y, y)
    else:
        y = pd.to_numeric(out[target]).to_numpy(dtype=float)
        out[target] = y + np.where(region, CONCEPT_SHIFT_STDS * float(np.std(y)), 0.0)
    return out


def sample_prior(
    frame: pd.DataFrame, n: int, target: str, classification: bool, rng: np.random.Generator
) -> pd.DataFrame:
    """n rows with the class balance moved to ``PRIOR_POSITIVE_SHARE`` positives (regression:
    that share from the upper half of the target), each class's rows drawn as they are."""
    if target not in frame.columns:
        raise ValueError(f"prior drift needs the target column {target!r}")
    y = pd.to_numeric(frame[target], errors="coerce")
    high = (y == 1) if classification else (y > y.median())
    groups = [frame[high.to_numpy()], frame[~high.to_numpy()]]
    if min(len(g) for g in groups) == 0:
        raise ValueError("prior drift needs rows of both classes")
    n_high = int(round(n * PRIOR_POSITIVE_SHARE))
    parts = [sample_rows(groups[0], n_high, rng), sample_rows(groups[1], n - n_high, rng)]
    both = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return both.iloc[rng.permutation(len(both))].reset_index(drop=True)


def apply_drift(
    frame: pd.DataFrame,
    drift_type: DriftType,
    numeric: Sequence[str],
    categorical: Sequence[str],
    rng: np.random.Generator,
    intensity: float = 1.0,
) -> pd.DataFrame:
    """A drifted copy of ``frame`` (feature changes only; ``concept`` and ``prior`` leave
    features alone); missing values become None (JSON null). ``intensity`` scales
    ``gradual``."""
    if drift_type not in DRIFT_TYPES:
        raise ValueError(f"unknown drift type {drift_type!r}; one of {', '.join(DRIFT_TYPES)}")
    out = frame.copy()
    n = len(out)
    for col in numeric:
        out[col] = out[col].astype("float64")
    if drift_type in ("numerical_shift", "gradual", "shift_and_concept"):
        _shift_numeric(out, numeric, intensity if drift_type == "gradual" else 1.0)
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
    target: str = "",
    classification: bool = True,
    step: int = 1,
) -> pd.DataFrame:
    """n drifted rows sampled from ``frame`` (other columns, e.g. the target, kept as-is,
    except under ``concept``). ``concept`` and ``prior`` need the ``target`` column (0/1 for
    classification); ``step`` is the gradual call's number (1, 2, ...)."""
    rng = np.random.default_rng(seed)
    if drift_type == "prior":
        rows = sample_prior(frame, n, target, classification, rng)
    else:
        rows = sample_rows(frame, n, rng)
    if drift_type in ("concept", "shift_and_concept"):
        rows = change_concept(rows, frame, numeric, target, classification, rng)
    intensity = gradual_intensity(step) if drift_type == "gradual" else 1.0
    return apply_drift(rows, drift_type, numeric, categorical, rng, intensity)
