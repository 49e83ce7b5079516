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

from dataclasses import dataclass, field

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
    """One numeric feature of a window, on the reference's bins."""

    at_edge: np.ndarray
    inside: np.ndarray
    """Values strictly between edge k-1 and edge k (index k; index 0 unused)."""
    inside_sum: np.ndarray
    """Their sum (the integral of the CDF over a bin is then exact)."""
    below: tuple[int, float] = (0, 0.0)
    above: tuple[int, float] = (0, 0.0)
    missing: int = 0
    values: dict[float, int] | None = field(default_factory=dict)
    """Counts per distinct value while the window has few (None: too many)."""

    def add(self, bins: NumericBins, raw: np.ndarray) -> None:
        ok = np.isfinite(raw)
        self.missing += int(len(raw) - ok.sum())
        x = raw[ok]
        lo, hi = bins.edges[0], bins.edges[-1]
        low, high = x[x < lo], x[x > hi]
        self.below = (self.below[0] + len(low), self.below[1] + float(low.sum()))
        self.above = (self.above[0] + len(high), self.above[1] + float(high.sum()))
        inner = x[(x >= lo) & (x <= hi)]
        idx = np.searchsorted(bins.edges, inner, side="left")
        on_edge = bins.edges[idx] == inner
        k = len(bins.edges)
        self.at_edge += np.bincount(idx[on_edge], minlength=k)
        self.inside += np.bincount(idx[~on_edge], minlength=k)
        self.inside_sum += np.bincount(idx[~on_edge], weights=inner[~on_edge], minlength=k)
        if self.values is not None and bins.ref_values is not None:
            uniq, counts = np.unique(x, return_counts=True)
            for v, c in zip(uniq.tolist(), counts.tolist(), strict=True):
                self.values[v] = self.values.get(v, 0) + c
            if len(set(self.values) | set(bins.ref_values)) > LOW_CARDINALITY_MAX:
                self.values = None
        elif bins.ref_values is None:
            self.values = None

    def merge(self, other: NumericCounts) -> None:
        self.at_edge += other.at_edge
        self.inside += other.inside
        self.inside_sum += other.inside_sum
        self.below = (self.below[0] + other.below[0], self.below[1] + other.below[1])
        self.above = (self.above[0] + other.above[0], self.above[1] + other.above[1])
        self.missing += other.missing
        if self.values is None or other.values is None:
            self.values = None
        else:
            for v, c in other.values.items():
                self.values[v] = self.values.get(v, 0) + c

    @property
    def finite(self) -> int:
        return int(self.at_edge.sum() + self.inside.sum()) + self.below[0] + self.above[0]


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
    (nb, sb), (na, sa) = counts.below, counts.above
    tails = (nb * edges[0] - sb) + (sa - na * edges[-1])
    cum_at = (nb + np.cumsum(counts.at_edge + counts.inside)) / n
    cum_before = cum_at - counts.at_edge / n  # share < edge k
    width = np.diff(edges)
    d_start = bins.ref_at[:-1] - cum_at[:-1]  # just after edge k
    d_end = bins.ref_below[1:] - cum_before[1:]  # just before edge k+1
    parts = width * _linear_abs(d_start, d_end)
    # Where the reference CDF is flat over a bin (edges on every reference value) and the
    # window's CDF stays on one side of it, the bin's integral is exact from the sum.
    level = bins.ref_at[:-1]
    flat = level == bins.ref_below[1:]
    integral = cum_at[:-1] * width + (counts.inside[1:] * edges[1:] - counts.inside_sum[1:]) / n
    parts = np.where(flat & (level >= cum_before[1:]), level * width - integral, parts)
    parts = np.where(flat & (level <= cum_at[:-1]), integral - level * width, parts)
    return (float(parts.sum()) + tails / n) / norm


@dataclass
class WindowSketch:
    """A window summarised feature by feature on the reference's bins; mergeable."""

    reference: PreparedReference
    bins: dict[str, NumericBins]
    numeric: dict[str, NumericCounts]
    categorical: dict[str, pd.Series]
    rows: int = 0

    @classmethod
    def empty(cls, reference: PreparedReference, bins: dict[str, NumericBins]) -> WindowSketch:
        numeric = {
            name: NumericCounts(
                np.zeros(len(b.edges), np.int64),
                np.zeros(len(b.edges), np.int64),
                np.zeros(len(b.edges)),
            )
            for name, b in bins.items()
        }
        categorical = {name: pd.Series(dtype=np.int64) for name in reference.categorical}
        return cls(reference, bins, numeric, categorical)

    def add(self, frame: pd.DataFrame) -> None:
        """Count one segment's rows (every reference feature must be a column)."""
        self.rows += len(frame)
        for name, counts in self.numeric.items():
            raw = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            counts.add(self.bins[name], raw)
        for name in self.categorical:
            col = frame[name]
            col = col.replace([np.inf, -np.inf], np.nan) if col.dtype.kind == "f" else col
            self.categorical[name] = self.categorical[name].add(
                col.value_counts(dropna=True), fill_value=0
            )

    def merge(self, other: WindowSketch) -> None:
        """Add another window's counts (summaries of segments made in parallel)."""
        self.rows += other.rows
        for name, counts in self.numeric.items():
            counts.merge(other.numeric[name])
        for name, series in other.categorical.items():
            self.categorical[name] = self.categorical[name].add(series, fill_value=0)

    def summary(self) -> DriftSummary:
        """The window's verdicts, as ``PreparedReference.compare`` on all its rows."""
        if self.rows == 0:
            raise ValueError("the current data has no rows")
        threshold = self.reference.threshold
        results = [self._numeric(name) for name in self.numeric]
        for name, ref in self.reference.categorical.items():
            counts = pd.concat([ref.counts, self.categorical[name]], axis=1, sort=False).fillna(0)
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
            if counts.values is not None and bins.ref_values is not None:
                method = JENSEN_SHANNON
                keys = sorted(set(counts.values) | set(bins.ref_values))
                ref_vals = ref.sorted_values
                ref_counts = np.array([np.count_nonzero(ref_vals == k) for k in keys], float)
                cur_counts = np.array([counts.values.get(k, 0) for k in keys], float)
                score = jensen_shannon(ref_counts, cur_counts)
            else:
                score = sketch_wasserstein(bins, counts, ref.norm)
        return verdict(name, "numeric", method, score, threshold, self.reference.own(name),
                       missing_ref=ref.missing_share, missing_cur=counts.missing / self.rows,
                       unseen=0.0)  # fmt: skip


def new_sketch(reference: PreparedReference, bins: int = DEFAULT_BINS) -> WindowSketch:
    """An empty window on the reference's bins."""
    edges = {name: numeric_bins(ref, bins) for name, ref in reference.numeric.items()}
    return WindowSketch.empty(reference, edges)
