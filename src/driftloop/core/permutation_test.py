"""An exact permutation test of one feature's drift statistic on one window.

Under "no drift" the reference rows and the window rows are exchangeable: every way of
splitting their pooled rows into a reference and a window of the real sizes is equally
likely. So the share of random splits that score at least the real pair is a p-value that
holds its level whatever the population, the reference's own sampling offset or the number of
levels, provided each split is scored *exactly as the check scores the real pair*. That is
why this module scores with the check's own rules:

* Jensen-Shannon (categories, and numbers with at most ``LOW_CARDINALITY_MAX`` distinct
  pooled values): levels under ``min_rows`` rows of the (pseudo) reference are pooled into
  one bucket on both sides, as ``pool_rare`` does for the real reference (numbers: no pooling,
  as the check does not pool them);
* normed Wasserstein (other numbers): the area between the two CDFs over the (pseudo)
  reference's own population std, floored at ``MIN_NORM``.

A split is a multivariate hypergeometric draw of the window's counts from the pooled counts
per distinct value, so a batch of splits is one numpy call. The number of splits is
sequential (Besag & Clifford 1991): stop at the ``stop_after``-th split that reaches the real
score (p = stop_after / splits drawn), else after ``max_draws`` (p = (hits + 1) /
(max_draws + 1)); both are valid p-values, and a clearly healthy feature costs a few dozen
splits instead of thousands. Pure: counts in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from driftloop.core.drift_distance import MIN_NORM
from driftloop.core.drift_verdict import JENSEN_SHANNON, Method
from driftloop.core.null_thresholds import js_rows

STOP_AFTER = 10
"""Splits reaching the real score after which the test stops (Besag-Clifford's ``h``)."""
BATCH_CELLS = 250_000
"""Most (splits x distinct values) cells scored at once: a batch stays in the CPU cache
(measured 3x faster than one large batch on 6,000 distinct values)."""
FIRST_BATCH = 64
"""Splits in the first batch; each later batch doubles what was drawn so far."""


@dataclass(frozen=True)
class PermutationResult:
    """One feature's exact test on one window."""

    score: float
    """The real pair's statistic, as the check computes it."""
    p_value: float
    permutations: int
    """Random splits drawn."""


def split_scores(
    method: Method,
    pooled: np.ndarray,
    cur_counts: np.ndarray,
    values: np.ndarray | None = None,
    min_rows: int = 1,
) -> np.ndarray:
    """The check's statistic for each split of the ``pooled`` counts per distinct value: a
    row of ``cur_counts`` is a window, the rest of the pool its reference (``values``: the
    sorted distinct values, for Wasserstein)."""
    if method != JENSEN_SHANNON:
        assert values is not None
        return _wasserstein_splits(values, pooled, cur_counts)
    ref_counts = pooled - cur_counts
    if min_rows > 1:
        rare = ref_counts < min_rows
        ref_counts = np.c_[np.where(rare, 0.0, ref_counts), (ref_counts * rare).sum(axis=1)]
        cur_counts = np.c_[np.where(rare, 0.0, cur_counts), (cur_counts * rare).sum(axis=1)]
    return js_rows(ref_counts, cur_counts)


def _wasserstein_splits(values: np.ndarray, pooled: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Normed Wasserstein-1 of each split: every split has the same sizes, so F_ref - F_cur
    is the pooled CDF over n_ref less the window's cumulative counts times (1/n_ref +
    1/n_cur), one pass per split (the check's ``wasserstein_sorted`` in count form); the norm
    is the split reference's population std (``reference_norm``)."""
    n_cur = float(cur[0].sum())
    n_ref = float(pooled.sum()) - n_cur
    centred = values - values.mean()  # the std does not move; the sums stay well scaled
    mean = (pooled @ centred - cur @ centred) / n_ref
    var = np.maximum((pooled @ centred**2 - cur @ centred**2) / n_ref - mean**2, 0.0)
    norm = np.maximum(np.sqrt(var), MIN_NORM)
    gap = np.cumsum(cur, axis=1)
    gap *= -(1.0 / n_ref + 1.0 / n_cur)
    gap += np.cumsum(pooled) / n_ref
    np.abs(gap, out=gap)
    return np.asarray(gap @ np.r_[np.diff(values), 0.0]) / norm


def _split_method(total: int, levels: int) -> Literal["count", "marginals"]:
    """numpy's cheaper way to draw: per level ("marginals") or per item ("count")."""
    return "count" if total < 40 * levels else "marginals"


def permutation_test(
    method: Method,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    rng: np.random.Generator,
    values: np.ndarray | None = None,
    min_rows: int = 1,
    max_draws: int = 999,
    stop_after: int = STOP_AFTER,
) -> PermutationResult:
    """The exact test of the real (reference, window) counts per distinct value (reference
    levels plus window-only ones; for Wasserstein over the sorted distinct pooled ``values``)."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    pooled = ref + cur
    n_cur = int(cur.sum())
    real = float(split_scores(method, pooled, cur[None], values, min_rows)[0])
    # A split that ties the real score counts as reaching it (conservative), also when the
    # two differ only by rounding.
    cut = real - 1e-9 * max(abs(real), 1e-12)
    whole = pooled.astype(np.int64)
    how = _split_method(int(whole.sum()), len(whole))
    drawn = hits = 0
    while drawn < max_draws:
        size = min(max(FIRST_BATCH, drawn), max_draws - drawn, max(BATCH_CELLS // len(pooled), 1))
        split = rng.multivariate_hypergeometric(whole, n_cur, size=size, method=how)
        scores = split_scores(method, pooled, split.astype(np.float64), values, min_rows)
        running = hits + np.cumsum(scores >= cut)
        if running[-1] >= stop_after:
            stopped_at = drawn + int(np.argmax(running >= stop_after)) + 1
            return PermutationResult(real, stop_after / stopped_at, stopped_at)
        hits, drawn = int(running[-1]), drawn + size
    return PermutationResult(real, (hits + 1) / (drawn + 1), drawn)


def draws_needed(retrain_alpha: float, tested: int, alpha: float) -> int:
    """The most splits a test may draw: enough that p can reach Holm's smallest level
    (``retrain_alpha / tested``) as well as ``alpha`` (at least 999)."""
    finest = min(alpha, retrain_alpha / max(tested, 1))
    return max(999, int(np.ceil(1.0 / finest)))  # p = 1 / (draws + 1) < finest, not equal
