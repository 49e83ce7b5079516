"""The distances drift is measured with, in plain numpy, matching Evidently 0.7's
large-reference tests.

Evidently picks its test from the size of the reference: with more than 1000 reference rows it
uses distances (normed Wasserstein for numbers, Jensen-Shannon for categories) compared with a
threshold of 0.1; with fewer it uses p-value tests (KS, chi-square, Z) that flag drift on a large
share of columns drawn from the *same* distribution. driftloop uses the distances for every
reference size, so a small reference cannot make a healthy window look drifted.

The definitions follow Evidently's source (``evidently.legacy.calculations.stattests``):

* missing and infinite values are dropped from both sides before a test;
* a numeric column with at most 5 distinct values (both sides together) is treated like a
  category (Jensen-Shannon on value shares), any other numeric column gets the Wasserstein-1
  distance divided by the reference's population standard deviation (at least 0.001);
* Jensen-Shannon uses the natural logarithm (scipy's default base), so it lies in
  [0, sqrt(ln 2)] ~ [0, 0.833].
"""

from __future__ import annotations

import math

import numpy as np

# Evidently switches a numeric column to Jensen-Shannon at this many distinct values or fewer.
LOW_CARDINALITY_MAX = 5
# Evidently's floor on the reference std, so a constant reference does not divide by zero.
MIN_NORM = 0.001


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance divided by the reference's population std (floored at 0.001).

    Both arrays must be finite and non-empty. Equal to Evidently's
    ``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``.
    """
    merged, from_ref = merge_sorted(np.sort(reference), np.sort(current))
    w1 = wasserstein_sorted(merged, from_ref, len(reference), len(current))
    return w1 / reference_norm(reference)


def pool_rare(
    ref_counts: np.ndarray, cur_counts: np.ndarray, min_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts with every level under ``min_rows`` reference rows pooled into one last bucket.

    Levels with no reference rows (new in the window) fall in the bucket too. Unchanged when
    no level is rare.
    """
    rare = ref_counts < min_rows
    if not rare.any():
        return ref_counts, cur_counts
    keep = ~rare
    ref = np.r_[ref_counts[keep], ref_counts[rare].sum()]
    cur = np.r_[cur_counts[keep], cur_counts[rare].sum()]
    return ref, cur


def rel_entr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise ``x * log(x / y)``, 0 where ``x`` is 0 (``scipy.special.rel_entr`` for the
    distributions a Jensen-Shannon mixture gives, where ``y > 0`` wherever ``x > 0``): numpy,
    so a drift check does not import scipy (0.2 s of every ``detect``)."""
    positive = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = x * np.log(np.where(positive, x, 1.0) / np.where(positive, y, 1.0))
    return np.where(positive, terms, 0.0)


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between two count vectors over the same keys."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / 2.0
    return math.sqrt(max(float(js), 0.0))


def reference_norm(reference: np.ndarray) -> float:
    """The reference's population std, floored at ``MIN_NORM``."""
    return max(float(np.std(reference)), MIN_NORM)


def merge_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted arrays; also say which merged values came from the reference."""
    both = np.concatenate([ref_sorted, cur_sorted])
    # A stable sort of two sorted runs is a linear merge (timsort/radix), not a full sort.
    order = np.argsort(both, kind="stable")
    return both[order], order < len(ref_sorted)


def wasserstein_sorted(merged: np.ndarray, from_ref: np.ndarray, n_ref: int, n_cur: int) -> float:
    """Wasserstein-1 of two samples given merged as ``merge_sorted`` returns them."""
    # Integral of |F_ref - F_cur| between consecutive merged values. Inside a run of ties the
    # step width is 0, so the running counts there need not be the "right" CDF values.
    # F_ref - F_cur = r/n_ref - (k - r)/n_cur, with r reference values among the first k.
    diff = np.cumsum(from_ref[:-1], dtype=np.float64)
    diff *= 1.0 / n_ref + 1.0 / n_cur
    diff -= np.arange(1, len(merged), dtype=np.float64) * (1.0 / n_cur)
    np.abs(diff, out=diff)
    return float(diff @ np.diff(merged))
