"""Estimated performance without labels: calibration (CBPE), error model (DLE), the signal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftloop.config.spec import PerformancePolicyConfig
from driftloop.core.estimate import (
    PerformanceEstimator,
    estimate_metrics,
    estimated_verdict,
    fit_calibrator,
    fit_estimator,
    realised_metrics,
)
from driftloop.core.metrics import classification_metrics


def labelled(rng: np.random.Generator, n: int, a: float = 1.0, b: float = 1.0):
    """True positive-class chances from Beta(a, b), labels drawn from them, and a model whose
    probabilities are miscalibrated (squared): calibration has something to fix."""
    p = rng.beta(a, b, n)
    y = (rng.random(n) < p).astype(int)
    return p**2, y


def test_calibration_makes_probabilities_match_frequencies():
    rng = np.random.default_rng(0)
    proba, y = labelled(rng, 20_000)
    cal = fit_calibrator(proba, y)
    c = cal.apply(proba)
    for lo in (0.1, 0.3, 0.5, 0.7):
        band = (c >= lo) & (c < lo + 0.1)
        assert y[band].mean() == pytest.approx(c[band].mean(), abs=0.03)
    assert np.all(np.diff(cal.apply(np.linspace(0, 1, 50))) >= 0)  # monotone


@pytest.mark.parametrize("shape", [(1.0, 1.0), (0.6, 2.5), (2.5, 0.8)])
def test_cbpe_estimates_realised_metrics_under_covariate_shift(shape):
    rng = np.random.default_rng(1)
    estimator = fit_estimator(*labelled(rng, 5000), classification=True)
    # the window's inputs moved (other Beta shape), the relation did not
    proba, y = labelled(rng, 3000, *shape)
    est = estimate_metrics(estimator, proba, threshold=0.25)
    real = realised_metrics(y, proba, True, threshold=0.25)
    for metric in ("roc_auc", "accuracy", "f1", "precision", "recall", "brier"):
        assert est[metric] == pytest.approx(real[metric], abs=0.035), metric
    assert real["roc_auc"] == pytest.approx(classification_metrics(y, proba)["roc_auc"])


def test_cbpe_cannot_see_concept_drift():
    """Labels from a changed relation: the realised score falls, the estimate does not."""
    rng = np.random.default_rng(2)
    estimator = fit_estimator(*labelled(rng, 5000), classification=True)
    proba, y = labelled(rng, 3000)
    flipped = np.where(rng.random(len(y)) < 0.4, 1 - y, y)
    est = estimate_metrics(estimator, proba)["roc_auc"]
    assert est == pytest.approx(realised_metrics(y, proba, True)["roc_auc"], abs=0.03)
    assert realised_metrics(flipped, proba, True)["roc_auc"] < est - 0.1


def test_dle_follows_the_error_where_the_window_is():
    rng = np.random.default_rng(3)

    def data(n: int, lo: float, hi: float):
        x = rng.uniform(lo, hi, n)
        return x, x + rng.normal(0, 0.1 + x, n)  # noisier for larger values

    estimator = fit_estimator(*data(8000, 0, 3), classification=False)
    for lo, hi in ((0, 1), (2, 3)):
        pred, y = data(3000, lo, hi)
        est, real = estimate_metrics(estimator, pred), realised_metrics(y, pred, False)
        assert est["mae"] == pytest.approx(real["mae"], rel=0.08)
        assert est["rmse"] == pytest.approx(real["rmse"], rel=0.08)
    low = estimate_metrics(estimator, data(500, 0, 1)[0])["mae"]
    assert estimate_metrics(estimator, data(500, 2, 3)[0])["mae"] > 2 * low


def test_estimator_round_trips_through_json():
    rng = np.random.default_rng(4)
    for classification in (True, False):
        out, y = labelled(rng, 2000)
        est = fit_estimator(out, y, classification)
        back = PerformanceEstimator.from_dict(json.loads(json.dumps(est.to_dict())))
        assert back == est
        assert estimate_metrics(back, out) == estimate_metrics(est, out)
    with pytest.raises(ValueError, match="kind"):
        PerformanceEstimator.from_dict({"kind": "magic"})
    assert estimate_metrics(est, np.array([np.nan])) == {}


def test_estimated_verdict_fires_past_the_tolerance_and_triggers_only_when_asked():
    policy = PerformancePolicyConfig(tolerance=0.05, min_labelled_rows=100)
    base = (0.84, "test_roc_auc tag")
    ok = estimated_verdict({"roc_auc": 0.82}, "roc_auc", base, policy, 500)
    assert not ok.fired and "<= tolerance" in ok.reason
    bad = estimated_verdict({"roc_auc": 0.70}, "roc_auc", base, policy, 500)
    assert bad.fired and not bad.trigger and bad.signal == "estimated_performance"
    assert bad.details["degradation"] == pytest.approx((0.84 - 0.70) / 0.84)
    on = PerformancePolicyConfig(tolerance=0.05, min_labelled_rows=100, use_estimated=True)
    assert estimated_verdict({"roc_auc": 0.70}, "roc_auc", base, on, 500).trigger
    small = estimated_verdict({"roc_auc": 0.70}, "roc_auc", base, policy, 50)
    assert not small.fired and "min_labelled_rows" in small.reason
    loss = estimated_verdict({"rmse": 12.0}, "rmse", (10.0, "t"), policy, 500)
    assert loss.fired  # lower is better: a larger error is the degradation
    assert not estimated_verdict({}, "pr_auc", base, policy, 500).fired


def test_an_estimated_breach_starts_a_retrain_only_when_opted_in():
    from driftloop.config.spec import DriftPolicyConfig
    from driftloop.core.policy import decide_retrain

    from .test_policy import summary_with

    for use_estimated in (False, True):
        policy = DriftPolicyConfig(
            cooldown_s=0, performance=PerformancePolicyConfig(use_estimated=use_estimated)
        )
        verdict = estimated_verdict({"roc_auc": 0.6}, "roc_auc", (0.84, "test_roc_auc tag"),
                                    policy.performance, 1000)  # fmt: skip
        decision = decide_retrain(policy, summary_with(set()), signals=[verdict])
        assert "estimated_performance" in decision.fired
        assert decision.retrain is use_estimated
        assert decision.triggered_by == (("estimated_performance",) if use_estimated else ())
