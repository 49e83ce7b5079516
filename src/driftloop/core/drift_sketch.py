"""Drift of a window too large to hold: per-segment summaries that merge.

Each segment of the inference log is summarised on the reference's own bins
(``WindowSketch.add``); summaries of segments add up (``merge``), and ``summary`` gives the
same ``DriftSummary`` as ``PreparedReference.compare`` on all rows at once:

* categorical features: value counts, which add exactly: **exact** verdicts and scores
  (rare levels pooled afterwards in the calibrated mode, as the exact statistics do);
* missing shares, row counts, unseen-category shares: counts, **exact**;
* numeric features with at most 5 distinct values (both sides, Evidently's rule): value
  counts, **exact**;
* other numeric features: Wasserstein-1 from cumulative counts at the bin edges. The edges
  are the reference's distinct values (all of them up to ``bins``, else evenly spaced
  quantiles of them), values equal to an edge are counted at the edge, values inside a bin
  by count and sum, values outside the reference's range by count and sum. With the
  reference's distinct values as edges (references of up to 16,384 distinct values) the
  reference CDF is flat inside each bin, and the integral over a bin is exact unless the
  window's CDF crosses the reference's inside that bin; only there (and with quantile
  edges) both CDFs are taken to move linearly across the bin. The error of a score is thus
  at most the window's mass inside the crossing bins times their width, over the
  reference's std: measured below 1e-3 (tests/core/test_drift_sketch.py,
  benchmarks/history.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.drift_distance import LOW_CARDINALITY_MAX, jensen_shannon
from driftloop.core.drift_reference import NumericReference, PreparedReference, categorical_verdict
from driftloop.core.drift_verdict import (
    JENSEN_SHANNON,
    WASSERSTEIN,
    DriftSummary,
    FeatureDrift,
    summarise,
    verdict,
)

DEFAULT_BINS = 16384


@dataclass(frozen=True)
class NumericBins:
    """Bin edges of one numeric reference column and its CDF at them."""

    edges: np.ndarray
    ref_at: np.ndarray
    """Share of reference values <= each edge."""
    ref_below: np.ndarray
    """Share of reference values < each edge."""
    ref_values: tuple[float, ...] | None
    """The reference's distinct values when there are few (the low-cardinality test)."""


def numeric_bins(ref: NumericReference, bins: int = DEFAULT_BINS) -> NumericBins:
    """The edges a numeric column is summarised on."""
    values = np.unique(ref.sorted_values) if len(ref.sorted_values) else np.zeros(1)
    if len(values) > bins + 1:
        values_at = np.linspace(0, len(values) - 1, bins + 1).astype(int)
        edges = values[values_at]
    else:
        edges = values
    n = max(len(ref.sorted_values), 1)
    at = np.searchsorted(ref.sorted_values, edges, side="right") / n
    below = np.searchsorted(ref.sorted_values, edges, side="left") / n
    few = tuple(float(v) for v in values) if len(values) <= LOW_CARDINALITY_MAX else None
    return NumericBins(edges, at, below, few)


@dataclass
class NumericCounts:
    """One numeric feature of a window, on the reference's bins (k edges)."""

    at_edge: np.ndarray
    """Values equal to edge i (k entries)."""
    between: np.ndarray
    """Values strictly between edge i-1 and edge i (k + 1 entries: index 0 holds the values
    below the first edge, index k those above the last)."""
    between_sum: np.ndarray
    """Their sums (the integral of the CDF over a bin is then exact)."""
    missing: int = 0
    off_edge: dict[float, int] | None = field(default_factory=dict)
    """Counts of the window's values that are not reference values, while the reference and
    the window together have few distinct values (None: too many, or the reference has many)."""

    @classmethod
    def empty(cls, bins: NumericBins) -> NumericCounts:
        k = len(bins.edges)
        off_edge: dict[float, int] | None = {} if bins.ref_values is not None else None
        return cls(np.zeros(k, np.int64), np.zeros(k + 1, np.int64), np.zeros(k + 1),
                   off_edge=off_edge)  # fmt: skip

    def add(self, bins: NumericBins, raw: np.ndarray) -> None:
        ok = np.isfinite(raw)
        x = raw if ok.all() else raw[ok]
        self.missing += len(raw) - len(x)
        k = len(bins.edges)
        # One pass: bin i*2+1 is "equal to edge i", bin i*2 "between edges i-1 and i".
        idx = np.searchsorted(bins.edges, x, side="left")
        on_edge = bins.edges[np.minimum(idx, k - 1)] == x
        code = idx * 2 + on_edge
        counts = np.bincount(code, minlength=2 * k + 1)
        self.at_edge += counts[1::2]
        self.between += counts[0::2]
        self.between_sum += np.bincount(code, weights=x, minlength=2 * k + 1)[0::2]
        if self.off_edge is not None and bins.ref_values is not None:
            self._count_off_edge(bins.ref_values, x[~on_edge])

    def _count_off_edge(self, ref_values: tuple[float, ...], off: np.ndarray) -> None:
        assert self.off_edge is not None
        if len(off):
            uniq, counts = np.unique(off, return_counts=True)
            for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
                self.off_edge[v] = self.off_edge.get(v, 0) + c
        if len(ref_values) + len(self.off_edge) > LOW_CARDINALITY_MAX:
            self.off_edge = None

    def merge(self, other: NumericCounts) -> None:
        self.at_edge += other.at_edge
        self.between += other.between
        self.between_sum += other.between_sum
        self.missing += other.missing
        if self.off_edge is None or other.off_edge is None:
            self.off_edge = None
        else:
            for v, c in other.off_edge.items():
                self.off_edge[v] = self.off_edge.get(v, 0) + c
            if len(self.off_edge) + int(self.at_edge.size) > LOW_CARDINALITY_MAX:
                self.off_edge = None

    @property
    def finite(self) -> int:
        return int(self.at_edge.sum() + self.between.sum())


def _linear_abs(d0: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """Mean of |d| over [0, 1] for d moving linearly from d0 to d1."""
    same = d0 * d1 >= 0
    total = np.abs(d0) + np.abs(d1)
    crossing = np.divide(d0 * d0 + d1 * d1, 2 * total, out=np.zeros_like(total), where=total > 0)
    return np.where(same, total / 2, crossing)


def sketch_wasserstein(bins: NumericBins, counts: NumericCounts, norm: float) -> float:
    """Normed Wasserstein-1 of the window summarised in ``counts`` against the reference."""
    n = counts.finite
    edges = bins.edges
    inside, inside_sum = counts.between[:-1], counts.between_sum[:-1]  # index 0: below
    (nb, sb), (na, sa) = (inside[0], inside_sum[0]), (counts.between[-1], counts.between_sum[-1])
    tails = (nb * edges[0] - sb) + (sa - na * edges[-1])
    cum_at = (nb + np.cumsum(counts.at_edge + np.r_[0, inside[1:]])) / n
    cum_before = cum_at - counts.at_edge / n  # share < edge k
    width = np.diff(edges)
    d_start = bins.ref_at[:-1] - cum_at[:-1]  # just after edge k
    d_end = bins.ref_below[1:] - cum_before[1:]  # just before edge k+1
    parts = width * _linear_abs(d_start, d_end)
    # Where the reference CDF is flat over a bin (edges on every reference value) and the
    # window's CDF stays on one side of it, the bin's integral is exact from the sum.
    level = bins.ref_at[:-1]
    flat = level == bins.ref_below[1:]
    integral = cum_at[:-1] * width + (inside[1:] * edges[1:] - inside_sum[1:]) / n
    parts = np.where(flat & (level >= cum_before[1:]), level * width - integral, parts)
    parts = np.where(flat & (level <= cum_at[:-1]), integral - level * width, parts)
    return (float(parts.sum()) + tails / n) / norm


@dataclass
class WindowSketch:
    """A window summarised feature by feature on the reference's bins; mergeable."""

    reference: PreparedReference
    bins: dict[str, NumericBins]
    numeric: dict[str, NumericCounts]
    categorical: dict[str, dict[Any, int]]
    """Value counts of each categorical feature (missing values left out)."""
    rows: int = 0

    @classmethod
    def empty(cls, reference: PreparedReference, bins: dict[str, NumericBins]) -> WindowSketch:
        numeric = {name: NumericCounts.empty(b) for name, b in bins.items()}
        return cls(reference, bins, numeric, {name: {} for name in reference.categorical})

    def add(self, frame: pd.DataFrame) -> None:
        """Count one segment's rows (every reference feature must be a column)."""
        numeric = {
            name: pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            for name in self.numeric
        }
        categorical = {
            name: frame[name].value_counts(dropna=True).to_dict() for name in self.categorical
        }
        self.add_columns(len(frame), numeric, categorical)

    def add_columns(
        self,
        rows: int,
        numeric: Mapping[str, np.ndarray],
        categorical: Mapping[str, Mapping[Any, int]],
    ) -> None:
        """Count ``rows`` rows given column by column: each numeric feature as float values
        (NaN where missing), each categorical one as value counts (missing, NaN and
        infinite values are left out, as the exact statistics leave them out)."""
        self.rows += rows
        for name, counts in self.numeric.items():
            counts.add(self.bins[name], numeric[name])
        for name, total in self.categorical.items():
            _add_counts(total, categorical[name])

    def merge(self, other: WindowSketch) -> None:
        """Add another window's counts (summaries of segments made in parallel)."""
        self.rows += other.rows
        for name, counts in self.numeric.items():
            counts.merge(other.numeric[name])
        for name, total in self.categorical.items():
            _add_counts(total, other.categorical[name])

    def summary(self) -> DriftSummary:
        """The window's verdicts, as ``PreparedReference.compare`` on all its rows."""
        if self.rows == 0:
            raise ValueError("the current data has no rows")
        threshold = self.reference.threshold
        results = [self._numeric(name) for name in self.numeric]
        for name, ref in self.reference.categorical.items():
            window = pd.Series(self.categorical[name], dtype=np.float64)
            counts = pd.concat([ref.counts, window], axis=1, sort=False).fillna(0)
            ref_counts, cur_counts = (counts.iloc[:, i].to_numpy(np.float64) for i in (0, 1))
            results.append(
                categorical_verdict(name, ref_counts, cur_counts, (ref.rows, self.rows),
                                    self.reference)
            )  # fmt: skip
        return summarise(results, self.reference.rows, self.rows, threshold, self.reference.mode)

    def _numeric(self, name: str) -> FeatureDrift:
        ref, bins, counts = self.reference.numeric[name], self.bins[name], self.numeric[name]
        threshold = self.reference.threshold
        method, score = WASSERSTEIN, None
        if len(ref.sorted_values) and counts.finite:
            if counts.off_edge is not None and bins.ref_values is not None:
                method = JENSEN_SHANNON
                window = dict(zip(bins.ref_values, counts.at_edge.tolist(), strict=True))
                _add_counts(window, counts.off_edge)
                keys = sorted(window)
                ref_vals = ref.sorted_values
                ref_counts = np.array([np.count_nonzero(ref_vals == k) for k in keys], float)
                cur_counts = np.array([window[k] for k in keys], float)
                score = jensen_shannon(ref_counts, cur_counts)
            else:
                score = sketch_wasserstein(bins, counts, ref.norm)
        return verdict(name, "numeric", method, score, threshold, self.reference.own(name),
                       missing_ref=ref.missing_share, missing_cur=counts.missing / self.rows,
                       unseen=0.0)  # fmt: skip


def _add_counts(total: dict[Any, int], counts: Mapping[Any, int]) -> None:
    """Add value counts, leaving out missing and non-finite float values."""
    for value, n in counts.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        total[value] = total.get(value, 0) + int(n)


def new_sketch(reference: PreparedReference, bins: int = DEFAULT_BINS) -> WindowSketch:
    """An empty window on the reference's bins."""
    edges = {name: numeric_bins(ref, bins) for name, ref in reference.numeric.items()}
    return WindowSketch.empty(reference, edges)
