"""Calibrated mode's per-feature decision: screen with the cached null, confirm exactly.

The cached null (:mod:`driftloop.core.null_thresholds`) is an *approximate* permutation
test: drawn once per reference and window size, it cannot know the window, and on a
200-level Zipf feature it flagged 1.3-2.1x alpha. So it only *screens* here, at a looser
level: a feature is a candidate when its cached p-value is under ``screen_level`` (five times
the larger of ``alpha`` and ``retrain_alpha``: a margin of 2.5x over the cached null's worst
measured error at alpha) or its score reaches the cached threshold. Each candidate is then
decided by an exact permutation test of the real reference against the real window
(:mod:`driftloop.core.permutation_test`): it drifts iff ``p <= alpha`` and ``score >=
min_effect``. Every flag passes the exact test, so the false-flag rate is at most alpha
(an AND with an exact test can only lower it); a real shift whose cached p-value is under
the screen loses nothing.

The exact p-value also replaces the cached one in what feeds Holm's retrain rule
(:mod:`driftloop.core.feature_family`); a screened-out feature keeps its cached p-value,
which is over ``screen_level`` and so over every level Holm tests at (at most
``retrain_alpha``): it is never rejected either way. Pure: frames in, verdicts out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from driftloop.core.drift_distance import LOW_CARDINALITY_MAX
from driftloop.core.drift_reference import PreparedReference, category_counts
from driftloop.core.drift_verdict import (
    JENSEN_SHANNON,
    SIGNAL_DISTRIBUTION,
    TEST_PERMUTATION,
    TEST_SCREENED_OUT,
    WASSERSTEIN,
    DriftSummary,
    FeatureDrift,
    Method,
    summarise,
)
from driftloop.core.null_thresholds import NullThreshold, p_values
from driftloop.core.permutation_test import PermutationResult, draws_needed, permutation_test

SCREEN_FACTOR = 5.0
"""The screen's level over ``max(alpha, retrain_alpha)``."""


@dataclass(frozen=True)
class ConfirmSettings:
    """The knobs of the screen and the exact test (from the spec's drift policy)."""

    alpha: float
    retrain_alpha: float
    min_effect: float
    seed: int = 0

    @property
    def screen_level(self) -> float:
        """Cached p-values under this make a feature a candidate."""
        return min(1.0, SCREEN_FACTOR * max(self.alpha, self.retrain_alpha))


@dataclass(frozen=True)
class FeatureCounts:
    """A feature's (reference, window) counts per distinct pooled value, ready to permute."""

    method: Method
    ref: np.ndarray
    cur: np.ndarray
    values: np.ndarray | None
    min_rows: int


def feature_counts(prepared: PreparedReference, name: str, column: pd.Series) -> FeatureCounts:
    """The counts the check scores a feature on (non-missing values; categories aligned on
    reference then window-only levels; numbers per sorted distinct pooled value)."""
    if name in prepared.categorical:
        ref, cur = category_counts(prepared.categorical[name], column)
        return FeatureCounts(JENSEN_SHANNON, ref, cur, None, prepared.min_category_rows)
    ref_vals = prepared.numeric[name].sorted_values
    cur_vals = column.to_numpy(dtype=np.float64, na_value=np.nan)
    cur_vals = cur_vals[np.isfinite(cur_vals)]
    values, where = np.unique(np.concatenate([ref_vals, cur_vals]), return_inverse=True)
    k = len(values)
    ref_counts = np.bincount(where[: len(ref_vals)], minlength=k).astype(np.float64)
    cur_counts = np.bincount(where[len(ref_vals) :], minlength=k).astype(np.float64)
    method = JENSEN_SHANNON if k <= LOW_CARDINALITY_MAX else WASSERSTEIN
    kept = values if method == WASSERSTEIN else None
    return FeatureCounts(method, ref_counts, cur_counts, kept, 1)


def is_candidate(f: FeatureDrift, own: NullThreshold, p: float | None, level: float) -> bool:
    """Whether the screen passes a feature on to the exact test."""
    if f.score is None:
        return False
    return f.score >= own.threshold or (p is not None and p < level)


def test_feature(
    counts: FeatureCounts, name: str, settings: ConfirmSettings, max_draws: int
) -> PermutationResult:
    """The exact test of one feature, seeded by the settings' seed, the feature's name and
    the counts themselves: the same check gives the same verdict, and different windows draw
    different splits (one fixed set of splits for every window would give every window the
    same Monte-Carlo error, so the rate over windows would not average to the test's level)."""
    data = zlib.crc32(np.concatenate([counts.ref, counts.cur]).tobytes())
    rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode()), data])
    return permutation_test(counts.method, counts.ref, counts.cur, rng, counts.values,
                            counts.min_rows, max_draws)  # fmt: skip


def confirmed(
    f: FeatureDrift, result: PermutationResult, settings: ConfirmSettings
) -> FeatureDrift:
    """A feature's verdict decided by its exact test."""
    score = f.score if f.score is not None else result.score
    drifted = result.p_value <= settings.alpha and score >= settings.min_effect
    others = [s for s in f.signals if s != SIGNAL_DISTRIBUTION]
    signals = ([SIGNAL_DISTRIBUTION] if drifted else []) + others
    return replace(f, distribution_drifted=drifted, drifted=bool(signals), signals=tuple(signals),
                   test=TEST_PERMUTATION, p_value=result.p_value,
                   permutations=result.permutations)  # fmt: skip


def confirm_drift(
    summary: DriftSummary,
    prepared: PreparedReference,
    current: pd.DataFrame,
    thresholds: dict[str, NullThreshold],
    settings: ConfirmSettings,
) -> tuple[DriftSummary, dict[str, float]]:
    """The window's verdicts with every calibrated feature screened and, if a candidate,
    decided by its exact test; and the p-values Holm's retrain rule takes (exact for
    candidates, cached for the rest)."""
    scores = {f.feature: f.score for f in summary.features}
    found = p_values(thresholds, scores)
    max_draws = draws_needed(settings.retrain_alpha, len(found), settings.alpha)
    out: list[FeatureDrift] = []
    for f in summary.features:
        own = thresholds.get(f.feature)
        if f.mode != "calibrated" or own is None or f.score is None:
            out.append(f)
        elif not is_candidate(f, own, found.get(f.feature), settings.screen_level):
            out.append(replace(f, test=TEST_SCREENED_OUT, p_value=found.get(f.feature)))
        else:
            counts = feature_counts(prepared, f.feature, current[f.feature])
            result = test_feature(counts, f.feature, settings, max_draws)
            found[f.feature] = result.p_value
            out.append(confirmed(f, result, settings))
    new = summarise(out, summary.rows_reference, summary.rows_current, summary.threshold,
                    summary.mode)  # fmt: skip
    return replace(new, prediction=summary.prediction), found
