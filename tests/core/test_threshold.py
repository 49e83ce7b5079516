"""Decision thresholds chosen on validation scores."""

from __future__ import annotations

import numpy as np
from sklearn import metrics

from driftloop.config.spec import CostThreshold
from driftloop.core.threshold import choose_threshold, threshold_from_tags


def f1_score(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int((pred & (y == 1)).sum())
    return 2 * tp / max(int(pred.sum()) + int(y.sum()), 1)


def scores(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.05).astype(int)
    p = np.clip(0.03 + 0.12 * y + rng.normal(0, 0.05, n), 0, 1)
    return y, p


def test_max_f1_is_the_best_f1_over_all_cutoffs():
    y, p = scores()
    chosen = choose_threshold(y, p, "max_f1")
    best = max(f1_score(y, p > t) for t in np.unique(p))
    assert chosen.rule == "max_f1"
    assert f1_score(y, p > chosen.value) >= best - 1e-12
    assert metrics.f1_score(y, p > chosen.value) == f1_score(y, p > chosen.value)
    assert f1_score(y, p > 0.5) == 0.0  # the fixed cut-off misses every positive here


def test_costs_pick_the_cheapest_cutoff():
    y, p = scores(seed=1)
    rule = CostThreshold(cost_fp=1, cost_fn=20)
    chosen = choose_threshold(y, p, rule)

    def cost(t: float) -> float:
        pred = p > t
        return float(((pred == 1) & (y == 0)).sum() + 20 * ((pred == 0) & (y == 1)).sum())

    assert cost(chosen.value) <= min(cost(t) for t in np.unique(p)) + 1e-9
    assert chosen.value < choose_threshold(y, p, "max_f1").value  # misses cost more: lower


def test_fixed_and_degenerate_cases():
    y, p = scores()
    assert choose_threshold(y, p, 0.3).value == 0.3
    assert choose_threshold(np.zeros(10), np.linspace(0, 1, 10), "max_f1").value == 0.5
    assert threshold_from_tags({}) == 0.5
    assert threshold_from_tags({"decision_threshold": "0.125"}) == 0.125
    assert threshold_from_tags({"decision_threshold": "junk"}) == 0.5
