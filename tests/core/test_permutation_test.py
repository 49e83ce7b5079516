"""The exact per-window permutation test: it holds its level under no drift whatever the
population, finds a clear shift, and scores the real pair exactly as the check does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.drift_confirm import feature_counts
from driftloop.core.drift_reference import prepare_reference
from driftloop.core.drift_verdict import JENSEN_SHANNON, WASSERSTEIN
from driftloop.core.permutation_test import (
    STOP_AFTER,
    draws_needed,
    permutation_test,
    split_scores,
)

LEVELS = np.array([f"l{i:02d}" for i in range(40)], dtype=object)
SHARES = 1.0 / np.arange(1, 41) ** 1.1
SHARES /= SHARES.sum()


def frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """A many-level Zipf category (a long rare tail), a continuous number, a rounded one and
    a 3-valued one; ``shift`` moves every number."""
    return pd.DataFrame({
        "cat": rng.choice(LEVELS, rows, p=SHARES),
        "x": rng.normal(size=rows) + shift,
        "spend": np.round(rng.gamma(2.0, 30.0, rows) * (1 + shift)),
        "few": rng.integers(0, 3, rows) + (rng.random(rows) < shift),
    })  # fmt: skip


NUMERIC, CATEGORICAL = ["x", "spend", "few"], ["cat"]


def p_values_of(reference: pd.DataFrame, window: pd.DataFrame, seed: int, draws: int) -> dict:
    prepared = prepare_reference(reference, NUMERIC, CATEGORICAL, 0.1, {}, min_category_rows=10)
    out = {}
    for name in [*NUMERIC, *CATEGORICAL]:
        c = feature_counts(prepared, name, window[name])
        rng = np.random.default_rng([seed, len(name)])
        out[name] = permutation_test(c.method, c.ref, c.cur, rng, c.values, c.min_rows, draws)
    return out


def test_under_no_drift_the_rejection_rate_holds_alpha_for_every_statistic() -> None:
    """Reference and window from one population, 400 times: each feature is rejected at
    alpha 0.05 no more often than alpha + 3 standard errors (the many-level category with
    rare-level pooling included); and not never (the test is not vacuous)."""
    rng = np.random.default_rng(7)
    trials, alpha = 400, 0.05
    rejected = dict.fromkeys([*NUMERIC, *CATEGORICAL], 0)
    for t in range(trials):
        found = p_values_of(frame(rng, 300), frame(rng, 120), t, 199)
        for name, result in found.items():
            rejected[name] += result.p_value <= alpha
    se = np.sqrt(alpha * (1 - alpha) / trials)
    for name, n in rejected.items():
        assert n / trials <= alpha + 3 * se, (name, n / trials)
    assert sum(rejected.values()) > 0


def test_a_clear_shift_is_found_at_the_smallest_p_the_draws_allow() -> None:
    rng = np.random.default_rng(3)
    found = p_values_of(frame(rng, 2000), frame(rng, 400, shift=0.5), 0, 999)
    for name in NUMERIC:
        assert found[name].p_value == pytest.approx(1 / 1000), name
        assert found[name].permutations == 999


def test_the_real_score_is_the_checks_statistic_on_the_unsplit_pair() -> None:
    """Window-only levels, rare levels pooled by the reference, missing values, a 3-valued
    number (Jensen-Shannon, not pooled) and continuous ones (normed Wasserstein)."""
    rng = np.random.default_rng(11)
    reference, window = frame(rng, 1500), frame(rng, 400, shift=0.05)
    window.loc[:9, "cat"] = "never-seen"
    window.loc[10:30, "x"] = np.nan
    prepared = prepare_reference(reference, NUMERIC, CATEGORICAL, 0.1, {}, min_category_rows=10)
    summary = prepared.compare(window)
    for name in [*NUMERIC, *CATEGORICAL]:
        c = feature_counts(prepared, name, window[name])
        assert c.method == summary.feature(name).method
        real = split_scores(c.method, c.ref + c.cur, c.cur[None], c.values, c.min_rows)[0]
        assert real == pytest.approx(summary.feature(name).score, rel=1e-9, abs=1e-12), name
        result = permutation_test(c.method, c.ref, c.cur, np.random.default_rng(0), c.values,
                                  c.min_rows, 99)  # fmt: skip
        assert result.score == pytest.approx(summary.feature(name).score, rel=1e-9, abs=1e-12)
    cat = feature_counts(prepared, "cat", window["cat"])
    assert (cat.ref < 10).any() and (cat.ref == 0).any()  # rare and unseen levels were pooled
    assert feature_counts(prepared, "few", window["few"]).method == JENSEN_SHANNON
    assert feature_counts(prepared, "x", window["x"]).method == WASSERSTEIN


def test_p_values_lie_between_the_resolution_and_one_and_are_reproducible() -> None:
    rng = np.random.default_rng(5)
    ref = rng.multinomial(500, [0.5, 0.3, 0.2]).astype(float)
    same = permutation_test(JENSEN_SHANNON, ref, ref.copy(), np.random.default_rng(1))
    # identical shares: every split reaches the score; the test stops at STOP_AFTER of them
    assert same.p_value == 1.0 and same.permutations == STOP_AFTER
    for seed in range(20):
        cur = rng.multinomial(200, [0.5, 0.3, 0.2]).astype(float)
        a = permutation_test(JENSEN_SHANNON, ref, cur, np.random.default_rng(seed), max_draws=199)
        b = permutation_test(JENSEN_SHANNON, ref, cur, np.random.default_rng(seed), max_draws=199)
        assert a == b
        assert 1 / 200 <= a.p_value <= 1.0
        if a.permutations < 199:  # stopped early: Besag-Clifford's h / L
            assert a.p_value == pytest.approx(STOP_AFTER / a.permutations)


def test_the_draws_reach_holms_smallest_level() -> None:
    assert draws_needed(0.001, 19, 0.01) == 19000  # p can go under 0.001 / 19
    assert draws_needed(0.01, 1, 0.05) == 999
    assert 1 / (draws_needed(0.001, 3, 0.01) + 1) < 0.001 / 3


def test_every_strongly_shifted_feature_reaches_holms_levels() -> None:
    """Three strongly shifted numbers: each exact test draws enough splits to count at
    retrain_alpha under Holm (the share rule needs every one of them, not just the first)."""
    from driftloop.core.drift_confirm import ConfirmSettings, confirm_drift
    from driftloop.core.feature_family import holm_rejected
    from driftloop.core.null_thresholds import CalibrationSettings, calibrate_thresholds

    rng = np.random.default_rng(2)
    reference, window = frame(rng, 3000), frame(rng, 500, shift=0.5)
    found = calibrate_thresholds(reference, NUMERIC, CATEGORICAL, 500,
                                 CalibrationSettings(0.01, 0.0, 300, 10))  # fmt: skip
    cuts = {k: (v.method, v.threshold) for k, v in found.items()}
    prepared = prepare_reference(reference, NUMERIC, CATEGORICAL, 0.1, cuts, min_category_rows=10)
    summary, p = confirm_drift(prepared.compare(window), prepared, window, found,
                               ConfirmSettings(0.01, 0.001, 0.0))  # fmt: skip
    shifted = ("x", "spend", "few")
    assert all(summary.feature(n).distribution_drifted for n in shifted)
    assert set(shifted) <= set(holm_rejected(p, 0.001)), p
