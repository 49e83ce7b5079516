"""Calibrated per-feature drift thresholds: what each statistic scores when nothing drifted.

A fixed distance threshold means different things at different window sizes and numbers of
categories: Jensen-Shannon between two samples of the *same* 300-level distribution is about
0.12 at 1,000 rows, so a fixed 0.1 flags such a feature on every window. Here each feature's
threshold is the ``1 - alpha`` quantile of its statistic under "no drift" at the window's size,
so a healthy window flags a feature with probability ``alpha`` whatever its size or
cardinality; an effect-size floor (``min_effect``) keeps a huge window from flagging a
negligible shift.

The null distribution has to hold the reference's own sampling noise as well as the window's:
the reference is a finite sample of the population, so a production window differs from it by
the window's noise *plus* the reference's fixed offset from the population. Each draw
approximates a permutation test of the reference against a window (exact whatever the
population): a bootstrap reference (as many rows as the reference, with replacement) gives a
stand-in window drawn from it (so the window sits as far from the reference as a real one
does), the reference and that window are pooled, and the pool is split at random into a pseudo
reference and a pseudo window of the real sizes, scored one against the other as the check
scores them (the same rare-level pooling, by the pseudo reference). Resampling both sides from
the reference alone (the calibration before ``NULL_METHOD`` 2) left the null too narrow for
many-level categoricals: a 200-level Zipf feature flagged 2.8x alpha at 400 rows and 4x at
1,000 (averaged over references; ``benchmarks/null_calibration.py``). Both the Jensen-Shannon
distance (categories, and numbers with few values) and the normed Wasserstein distance (other
numbers) depend only on the counts per distinct reference value, so a draw is a pair of count
vectors and the scores are computed at once in numpy.

Even so the cached null is approximate (the 200-level feature still flagged 1.3x alpha at
400 rows and 2.1x at 1,000), so a check uses it as a *screen* only and decides each feature
near its threshold by an exact permutation test of the real window
(:mod:`driftloop.core.drift_confirm`).

Rare categories are handled on purpose: levels with fewer than ``min_category_rows`` reference
rows (and levels the reference never had) are pooled into one bucket on both sides before the
statistic, in the check and in the null alike (``pool_rare``). Pure: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftloop.core.drift_distance import LOW_CARDINALITY_MAX, MIN_NORM, pool_rare, rel_entr
from driftloop.core.drift_verdict import JENSEN_SHANNON, WASSERSTEIN, Method


@dataclass(frozen=True)
class NullThreshold:
    """One feature's calibrated threshold at one window size."""

    feature: str
    method: Method
    window_rows: int
    """Non-missing window rows the null was drawn at."""
    quantile: float
    """The ``1 - alpha`` quantile of the statistic under no drift."""
    threshold: float
    """What decides: ``max(quantile, min_effect)``."""
    tail_start: float | None = None
    """The null's ``TAIL_QUANTILE`` quantile, where its fitted exponential tail starts."""
    tail_scale: float | None = None
    """The tail's mean excess over ``tail_start`` (the exponential's scale)."""

    def p_value(self, score: float | None) -> float | None:
        """How often the statistic reaches ``score`` when nothing drifted, from the null's
        fitted tail (None without a score or a tail). Exact enough below ``1 -
        TAIL_QUANTILE`` (0.1), where decisions are made; larger values are rough."""
        if score is None or self.tail_start is None or self.tail_scale is None:
            return None
        return tail_p_value(score, self.tail_start, self.tail_scale)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


TAIL_QUANTILE = 0.9
"""The null's upper tail (beyond this quantile) is fitted with an exponential: a few hundred
draws cannot show the 1-in-3,000 quantile a retrain decision needs, the fitted tail can
(peaks over a threshold; measured within a factor of about 2 of 40,000-draw tails for
Jensen-Shannon and Wasserstein, mostly on the conservative side)."""


def fit_tail(scores: np.ndarray) -> tuple[float, float]:
    """(start, scale) of the exponential fitted to the scores beyond ``TAIL_QUANTILE``."""
    start = float(np.quantile(scores, TAIL_QUANTILE))
    excess = scores[scores > start] - start
    scale = float(excess.mean()) if len(excess) else 0.0
    return start, max(scale, 1e-12)


def tail_p_value(score: float, start: float, scale: float) -> float:
    """P(statistic >= score) under the fitted tail, at most 1."""
    return float(min(1.0, (1.0 - TAIL_QUANTILE) * np.exp(-(score - start) / scale)))


def js_rows(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (natural log) between matching rows of two count matrices."""
    p = ref_counts / ref_counts.sum(axis=1, keepdims=True)
    q = cur_counts / cur_counts.sum(axis=1, keepdims=True)
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1)) / 2.0
    return np.sqrt(np.maximum(js, 0.0))


def wasserstein_rows(
    values: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray, norm: float
) -> np.ndarray:
    """Normed Wasserstein-1 distance between matching rows of two count matrices over the
    same sorted distinct ``values``: the area between the two CDFs, over ``norm``."""
    f_ref = np.cumsum(ref_counts, axis=1) / ref_counts.sum(axis=1, keepdims=True)
    f_cur = np.cumsum(cur_counts, axis=1) / cur_counts.sum(axis=1, keepdims=True)
    gaps = np.diff(values)
    return np.asarray(np.abs(f_ref - f_cur)[:, :-1] @ gaps / norm)


NULL_METHOD = 2
"""Which null the thresholds come from (part of their cache key): 2 = the pooled split with a
bootstrap reference (above); 1 was both sides resampled from the reference."""


def null_counts(
    ref_counts: np.ndarray, window_rows: int, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``draws`` (pseudo reference, pseudo window) count pairs under no drift: a window drawn
    from a bootstrap reference, pooled with the reference, split at random into the two
    sizes."""
    n_ref = int(ref_counts.sum())
    boot = rng.multinomial(n_ref, ref_counts / n_ref, size=draws)
    pooled = ref_counts.astype(np.int64) + rng.multinomial(window_rows, boot / n_ref)
    cur = np.stack([rng.multivariate_hypergeometric(row, window_rows) for row in pooled])
    return (pooled - cur).astype(np.float64), cur.astype(np.float64)


def null_distribution(
    method: Method,
    ref_counts: np.ndarray,
    window_rows: int,
    draws: int,
    rng: np.random.Generator,
    values: np.ndarray | None = None,
    min_rows: int = 1,
) -> np.ndarray:
    """``draws`` scores of the statistic between a pseudo reference and a pseudo window under
    no drift (``null_counts``; ``ref_counts`` per distinct value, ``values`` those values,
    sorted, for Wasserstein). Jensen-Shannon pools the levels under ``min_rows`` rows of each
    pseudo reference into one bucket, on both sides, as the check pools by the reference."""
    pseudo_ref, pseudo_cur = null_counts(ref_counts, window_rows, draws, rng)
    if method == JENSEN_SHANNON:
        if min_rows > 1:
            rare = pseudo_ref < min_rows
            pseudo_ref = np.c_[np.where(rare, 0.0, pseudo_ref), (pseudo_ref * rare).sum(axis=1)]
            pseudo_cur = np.c_[np.where(rare, 0.0, pseudo_cur), (pseudo_cur * rare).sum(axis=1)]
        return js_rows(pseudo_ref, pseudo_cur)
    assert values is not None
    p = ref_counts / ref_counts.sum()
    mean = float(p @ values)
    norm = max(float(np.sqrt(p @ (values - mean) ** 2)), MIN_NORM)
    return wasserstein_rows(values, pseudo_ref, pseudo_cur, norm)


def round_window(rows: int) -> int:
    """A window size rounded down to two significant digits (1,234 -> 1,200): thresholds are
    cached per rounded size, and a slightly smaller size errs on the side of fewer alarms."""
    if rows < 100:
        return max(rows, 1)
    scale = 10 ** (len(str(rows)) - 2)
    return rows // scale * scale


def _reference_counts(series: pd.Series, numeric: bool) -> tuple[Method, np.ndarray, np.ndarray]:
    """(method, distinct values, counts) of a reference column's non-missing values."""
    if numeric:
        vals = series.to_numpy(dtype=np.float64, na_value=np.nan)
        vals = vals[np.isfinite(vals)]
        distinct, counts = np.unique(vals, return_counts=True)
        method = JENSEN_SHANNON if len(distinct) <= LOW_CARDINALITY_MAX else WASSERSTEIN
        return method, distinct, counts.astype(np.float64)
    if series.dtype.kind == "f":
        series = series.replace([np.inf, -np.inf], np.nan)
    counts = series.value_counts(dropna=True)
    return JENSEN_SHANNON, counts.index.to_numpy(), counts.to_numpy(dtype=np.float64)


def calibrate_feature(
    name: str,
    reference: pd.Series,
    numeric: bool,
    window_rows: int,
    settings: CalibrationSettings,
    rng: np.random.Generator,
) -> NullThreshold | None:
    """One feature's threshold for a window of ``window_rows`` rows (None: the reference has
    too few values to say)."""
    method, values, counts = _reference_counts(reference, numeric)
    total = counts.sum()
    if len(counts) < 2 or total == 0:
        return None
    missing = 1.0 - total / max(len(reference), 1)
    n = max(int(round(window_rows * (1.0 - missing))), 1)
    min_rows = 1 if numeric else settings.min_category_rows
    if len(pool_rare(counts, counts, min_rows)[0]) < 2:
        return None
    scores = null_distribution(method, counts, n, settings.draws, rng, values, min_rows)
    q = float(np.quantile(scores, 1.0 - settings.alpha))
    start, scale = fit_tail(scores)
    return NullThreshold(name, method, n, q, max(q, settings.min_effect), start, scale)


@dataclass(frozen=True)
class CalibrationSettings:
    """The knobs of a calibration (from the spec's drift policy)."""

    alpha: float
    min_effect: float
    draws: int
    min_category_rows: int
    seed: int = 0


def calibrate_thresholds(
    reference: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    window_rows: int,
    settings: CalibrationSettings,
) -> dict[str, NullThreshold]:
    """Every feature's calibrated threshold for windows of ``window_rows`` rows (seeded: the
    same reference and settings give the same thresholds)."""
    rng = np.random.default_rng(settings.seed)
    out: dict[str, NullThreshold] = {}
    for names, is_numeric in ((numeric, True), (categorical, False)):
        for name in names:
            found = calibrate_feature(name, reference[name], is_numeric, window_rows, settings, rng)
            if found is not None:
                out[name] = found
    return out


def p_values(
    thresholds: dict[str, NullThreshold], scores: dict[str, float | None]
) -> dict[str, float]:
    """Each calibrated feature's p-value for its score on a window (features without a
    score or a fitted tail are left out)."""
    out = {}
    for name, found in thresholds.items():
        p = found.p_value(scores.get(name))
        if p is not None:
            out[name] = p
    return out
