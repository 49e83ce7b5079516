"""The reference made ready once, and windows compared with it feature by feature.

``compute_drift`` (or ``prepare_reference`` then ``PreparedReference.compare``) gives one
window's :class:`~driftloop.core.drift_verdict.DriftSummary`, with the distances of
:mod:`driftloop.core.drift_distance` and the signals of :mod:`driftloop.core.drift_verdict`.

That is the ``threshold`` mode. In the ``calibrated`` mode (``compute_drift(calibrated=...)``,
thresholds from :mod:`driftloop.core.null_thresholds`) each feature's distance is compared
with its own threshold, and categories with few reference rows are pooled into one bucket on
both sides first (``pool_rare``); the missing and unseen signals keep the fixed threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from driftloop.core.drift_distance import (
    LOW_CARDINALITY_MAX,
    MIN_NORM,
    jensen_shannon,
    merge_sorted,
    pool_rare,
    reference_norm,
    wasserstein_sorted,
)
from driftloop.core.drift_verdict import (
    JENSEN_SHANNON,
    WASSERSTEIN,
    DriftSummary,
    FeatureDrift,
    Method,
    Mode,
    summarise,
    verdict,
)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
    calibrated: Mapping[str, tuple[str, float]] | None = None,
    min_category_rows: int = 1,
) -> DriftSummary:
    """Compare ``current`` with ``reference`` feature by feature (numeric first, then categorical).

    ``calibrated`` (calibrated mode) maps features to (method, threshold): a feature whose
    method matches decides by its own threshold, any other by ``threshold``; categories with
    fewer than ``min_category_rows`` reference rows are pooled first.

    Raises ValueError when a column is missing from either frame, a column is listed as both
    kinds, a numeric column holds non-numbers, or either frame has no rows.
    """
    prepared = prepare_reference(
        reference, numeric, categorical, threshold, calibrated, min_category_rows
    )
    return prepared.compare(current)


@dataclass(frozen=True)
class NumericReference:
    """A numeric reference column made ready: its sorted finite values and their norm."""

    sorted_values: np.ndarray
    missing_share: float
    norm: float


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical reference column made ready: its value counts."""

    counts: pd.Series
    rows: int


@dataclass(frozen=True)
class PreparedReference:
    """The reference's statistics, computed once and compared with many windows (the
    in-server monitor keeps one per model version). ``compare`` gives exactly what
    ``compute_drift`` gives on the raw reference."""

    rows: int
    threshold: float
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    calibrated: dict[str, tuple[str, float]] | None = None
    min_category_rows: int = 1
    """Categories under this many reference rows are pooled (calibrated mode only)."""

    def own(self, name: str) -> tuple[str, float] | None:
        """A feature's calibrated (method, threshold), if it has one."""
        return None if self.calibrated is None else self.calibrated.get(name)

    @property
    def mode(self) -> Mode:
        return "calibrated" if self.calibrated is not None else "threshold"

    def compare(self, current: pd.DataFrame) -> DriftSummary:
        """Drift verdicts of one window; ValueError as ``compute_drift``."""
        _check_frame(current, [*self.numeric, *self.categorical], "current")
        results: list[FeatureDrift] = []
        for name, ref in self.numeric.items():
            cur = _as_float(current[name], name, "current")
            results.append(_numeric_drift(name, ref, cur, self.threshold, self.own(name)))
        for name, cat in self.categorical.items():
            results.append(_categorical_drift(name, cat, current[name], self))
        return summarise(results, self.rows, len(current), self.threshold, self.mode)


def prepare_reference(
    reference: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
    calibrated: Mapping[str, tuple[str, float]] | None = None,
    min_category_rows: int = 1,
) -> PreparedReference:
    """Sort and count the reference once (ValueError on bad columns, as ``compute_drift``)."""
    numeric, categorical = list(numeric), list(categorical)
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"columns listed as both numeric and categorical: {', '.join(both)}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    _check_frame(reference, numeric + categorical, "reference")
    prepared_numeric = {}
    for name in numeric:
        ref = _as_float(reference[name], name, "reference")
        ok = np.isfinite(ref)
        values = np.sort(ref[ok])
        prepared_numeric[name] = NumericReference(
            values, float(1.0 - ok.mean()), reference_norm(values) if len(values) else MIN_NORM
        )
    prepared_categorical = {
        name: CategoricalReference(
            _finite(reference[name]).value_counts(dropna=True), len(reference)
        )
        for name in categorical
    }
    return PreparedReference(
        len(reference), threshold, prepared_numeric, prepared_categorical,
        None if calibrated is None else dict(calibrated),
        min_category_rows if calibrated is not None else 1,
    )  # fmt: skip


def _check_frame(frame: pd.DataFrame, wanted: list[str], side: str) -> None:
    absent = [c for c in wanted if c not in frame.columns]
    if absent:
        raise ValueError(f"columns absent from the {side} data: {', '.join(absent)}")
    if len(frame) == 0:
        raise ValueError(f"the {side} data has no rows")


def _finite(series: pd.Series) -> pd.Series:
    """Evidently drops +-inf with the missing values; only float columns can hold them."""
    return series.replace([np.inf, -np.inf], np.nan) if series.dtype.kind == "f" else series


def _as_float(series: pd.Series, name: str, side: str) -> np.ndarray:
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"numeric column {name!r} in the {side} data holds non-numeric values ({exc})"
        ) from exc


def _numeric_drift(
    name: str,
    ref: NumericReference,
    cur: np.ndarray,
    threshold: float,
    own: tuple[str, float] | None = None,
) -> FeatureDrift:
    cur_ok = np.isfinite(cur)
    ref_vals, cur_vals = ref.sorted_values, np.sort(cur[cur_ok])
    method: Method = WASSERSTEIN
    score: float | None = None
    if len(ref_vals) and len(cur_vals):
        merged, from_ref = merge_sorted(ref_vals, cur_vals)
        new_value = np.empty(len(merged), dtype=bool)
        new_value[0] = True
        np.not_equal(merged[1:], merged[:-1], out=new_value[1:])
        if int(new_value.sum()) <= LOW_CARDINALITY_MAX:
            method = JENSEN_SHANNON
            group = np.cumsum(new_value) - 1
            k = int(group[-1]) + 1
            ref_counts = np.bincount(group[from_ref], minlength=k)
            cur_counts = np.bincount(group[~from_ref], minlength=k)
            score = jensen_shannon(ref_counts, cur_counts)
        else:
            w1 = wasserstein_sorted(merged, from_ref, len(ref_vals), len(cur_vals))
            score = w1 / ref.norm
    return verdict(name, "numeric", method, score, threshold, own,
                   missing_ref=ref.missing_share, missing_cur=1.0 - cur_ok.mean(),
                   unseen=0.0)  # fmt: skip


def _categorical_drift(
    name: str, ref: CategoricalReference, cur: pd.Series, prepared: PreparedReference
) -> FeatureDrift:
    return categorical_verdict(name, *category_counts(ref, cur), (ref.rows, len(cur)), prepared)


def category_counts(ref: CategoricalReference, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(reference, window) counts of a categorical column aligned on the same levels: the
    reference's, then those only the window has (missing and infinite values left out)."""
    # Hash counts per side, then align on the (few) keys: far cheaper than factorising both.
    counts = pd.concat(
        [ref.counts, _finite(cur).value_counts(dropna=True)], axis=1, sort=False
    ).fillna(0)
    return (counts.iloc[:, 0].to_numpy(dtype=np.float64),
            counts.iloc[:, 1].to_numpy(dtype=np.float64))  # fmt: skip


def categorical_verdict(
    name: str,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    rows: tuple[int, int],
    prepared: PreparedReference,
) -> FeatureDrift:
    """A categorical feature's verdict from value counts aligned on the same keys and the
    row counts (reference, current) including missing values."""
    threshold = prepared.threshold
    n_ref_ok, n_cur_ok = int(ref_counts.sum()), int(cur_counts.sum())
    score: float | None = None
    unseen = 0.0
    if n_ref_ok and n_cur_ok:
        score = jensen_shannon(*pool_rare(ref_counts, cur_counts, prepared.min_category_rows))
    if n_cur_ok:
        # With no reference values at all every category is "unseen"; the missing-share
        # signal already reports that case, so do not count it twice.
        unseen = float(cur_counts[ref_counts == 0].sum()) / n_cur_ok if n_ref_ok else 0.0
    return verdict(name, "categorical", JENSEN_SHANNON, score, threshold, prepared.own(name),
                    missing_ref=1.0 - n_ref_ok / rows[0], missing_cur=1.0 - n_cur_ok / rows[1],
                    unseen=unseen)  # fmt: skip
