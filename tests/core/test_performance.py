"""The performance rule: a real degradation fires, noise and small windows do not; the
vectorised bootstrap metrics equal sklearn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from driftloop.config.spec import PerformancePolicyConfig
from driftloop.core.performance import (
    assess_performance,
    baseline_score,
    degradation,
    weighted_metric,
)


def scored_window(n: int, separation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities whose AUC grows with ``separation`` (0: no skill)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    logits = separation * (2 * y - 1) + rng.normal(size=n)
    return y, 1 / (1 + np.exp(-logits))


BASELINE_AUC = 0.84  # what separation=1.4 scores on a large sample


def test_a_real_degradation_fires():
    y, p = scored_window(600, 0.4, seed=1)  # AUC ~0.61 against a test score of 0.84
    check = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "test"),
                               PerformancePolicyConfig())  # fmt: skip
    assert check.breached and check.lower_bound is not None and check.lower_bound > 0.05
    assert check.degradation == pytest.approx((BASELINE_AUC - check.score) / BASELINE_AUC)
    assert set(check.metrics) == {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}
    assert check.verdict(PerformancePolicyConfig()).fired


def test_same_model_quality_does_not_fire_on_noise():
    fired = 0
    for seed in range(30):
        y, p = scored_window(300, 1.4, seed=seed)
        check = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "test"),
                                   PerformancePolicyConfig(tolerance=0.03))  # fmt: skip
        fired += check.breached
    assert fired == 0


def test_a_small_window_with_a_bad_point_estimate_does_not_fire():
    # a mild drop on 60 rows: the point estimate is past the tolerance, the bound is not
    y, p = scored_window(60, 0.9, seed=3)
    rule = PerformancePolicyConfig(min_labelled_rows=50, tolerance=0.05)
    check = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "test"), rule)
    assert check.degradation is not None and check.degradation > 0.05
    assert not check.breached and check.lower_bound is not None and check.lower_bound <= 0.05


def test_below_min_labelled_rows_or_without_a_baseline_nothing_fires():
    y, p = scored_window(100, 0.0, seed=2)
    few = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "t"), PerformancePolicyConfig())
    assert not few.breached and "min_labelled_rows" in few.reason
    none = assess_performance(y, p, "roc_auc", True, (None, "no tag"),
                              PerformancePolicyConfig(min_labelled_rows=50))  # fmt: skip
    assert not none.breached and "no tag" in none.reason


def test_regression_error_growth_fires_with_an_absolute_tolerance():
    rng = np.random.default_rng(4)
    y = rng.normal(size=500)
    pred = y + rng.normal(scale=2.0, size=500)  # rmse ~2 against a test rmse of 1
    rule = PerformancePolicyConfig(tolerance=0.5, tolerance_kind="absolute")
    check = assess_performance(y, pred, "rmse", False, (1.0, "test"), rule)
    assert check.breached and check.degradation == pytest.approx(check.score - 1.0)
    good = assess_performance(y, y + rng.normal(scale=1.0, size=500), "rmse", False,
                              (1.0, "test"), rule)  # fmt: skip
    assert not good.breached


def test_the_bootstrap_is_seeded():
    y, p = scored_window(400, 0.8, seed=5)
    rule = PerformancePolicyConfig()
    a = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "t"), rule)
    b = assess_performance(y, p, "roc_auc", True, (BASELINE_AUC, "t"), rule)
    assert a.lower_bound == b.lower_bound


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("roc_auc", lambda y, p, w: skm.roc_auc_score(y, p, sample_weight=w)),
        ("pr_auc", lambda y, p, w: skm.average_precision_score(y, p, sample_weight=w)),
        ("f1", lambda y, p, w: skm.f1_score(y, p > 0.5, sample_weight=w)),
        ("log_loss", lambda y, p, w: skm.log_loss(y, p, sample_weight=w)),
        ("brier", lambda y, p, w: skm.brier_score_loss(y, p, sample_weight=w)),
    ],
)
def test_weighted_classification_metrics_equal_sklearn(metric, reference):
    y, p = scored_window(300, 1.0, seed=6)
    p = np.round(p, 2)  # ties
    w = np.random.default_rng(7).multinomial(300, np.full(300, 1 / 300), size=3).astype(float)
    got = weighted_metric(metric, y, p, w)
    assert got == pytest.approx([reference(y, p, row) for row in w])


@pytest.mark.parametrize(
    ("metric", "reference"),
    [
        ("rmse", lambda y, p, w: np.sqrt(skm.mean_squared_error(y, p, sample_weight=w))),
        ("mae", lambda y, p, w: skm.mean_absolute_error(y, p, sample_weight=w)),
        ("r2", lambda y, p, w: skm.r2_score(y, p, sample_weight=w)),
    ],
)
def test_weighted_regression_metrics_equal_sklearn(metric, reference):
    rng = np.random.default_rng(8)
    y = rng.normal(size=200)
    p = y + rng.normal(scale=0.5, size=200)
    w = rng.multinomial(200, np.full(200, 1 / 200), size=3).astype(float)
    assert weighted_metric(metric, y, p, w) == pytest.approx([reference(y, p, r) for r in w])


def test_degradation_direction_follows_the_metric():
    assert degradation("roc_auc", 0.8, 0.7, relative=False) == pytest.approx(0.1)
    assert degradation("rmse", 1.0, 1.2, relative=True) == pytest.approx(0.2)
    assert degradation("log_loss", 0.5, 0.4, relative=False) == pytest.approx(-0.1)


def test_baseline_prefers_the_test_score():
    tags = {"test_roc_auc": "0.81", "valid_roc_auc": "0.85"}
    assert baseline_score(tags, "roc_auc") == (0.81, "test_roc_auc tag")
    retrained = {"gate_metric": "roc_auc", "gate_challenger_score": "0.8", "valid_roc_auc": "0.9"}
    assert baseline_score(retrained, "roc_auc") == (0.8, "gate_challenger_score tag")
    assert baseline_score({}, "rmse")[0] is None
