"""The gate's confidence rule: a paired bootstrap of challenger - champion on the same rows."""

import numpy as np
import pytest

from driftloop.core.gate import BOTH, RECENT, decide_on_sets, interval_text
from driftloop.core.paired_bootstrap import PairedOutputs, improvement_interval


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(size=n) > 0).astype(float)
    return y, signal


def _gate(metric: str, paired: PairedOutputs, margin: float = 0.0, seed: int = 0):
    iv = improvement_interval(metric, paired, 0.9, 1000, seed, RECENT)
    y, ours, theirs = paired.y, paired.challenger, paired.champion
    from driftloop.core.performance import weighted_metric

    def point(out: np.ndarray, t: float) -> float:
        return float(weighted_metric(metric, y, out, np.ones((1, len(y))), t)[0])

    scores = {RECENT: {"rows": len(y), "challenger": point(ours, paired.thresholds[0]),
                       "champion": point(theirs, paired.thresholds[1])}}  # fmt: skip
    return iv, decide_on_sets(metric, ("3", "2"), scores, {RECENT: "the newest rows"}, margin, iv)


def test_a_clearly_better_challenger_is_promoted_with_its_interval_recorded():
    y, signal = _rows(400, 0)
    noise = np.random.default_rng(1).normal(scale=2.0, size=400)
    paired = PairedOutputs(y, 1 / (1 + np.exp(-signal)), 1 / (1 + np.exp(-(signal + noise))))
    iv, d = _gate("roc_auc", paired)
    assert iv.improvement > 0.05 and iv.lower_bound > 0.03
    assert d.promote and "above 0" in d.reason
    assert d.interval == iv.to_dict() and d.interval["draws"] == 1000
    assert "paired bootstrap" in d.rule and "90%" in d.rule
    assert "lower bound +0." in interval_text(d.interval)


def test_identical_or_noise_level_challengers_are_not_promoted():
    y, signal = _rows(200, 2)
    proba = 1 / (1 + np.exp(-signal))
    iv, d = _gate("roc_auc", PairedOutputs(y, proba, proba.copy()))
    assert iv.improvement == 0 and iv.lower_bound == 0 and not d.promote
    assert "not above 0" in d.reason and d.evaluation_rows == 200
    # equally good models (the same signal, each with its own noise) on 200 rows: the point
    # rule promotes about half of them, the 90% rule about one in ten (its level)
    point = confident = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        a, b = (1 / (1 + np.exp(-(signal + rng.normal(scale=0.7, size=200)))) for _ in "ab")
        iv, d = _gate("roc_auc", PairedOutputs(y, a, b))
        point += iv.improvement > 0
        confident += d.promote
        assert d.promote == (iv.lower_bound > 0)
    print(f"equal models, 40 pairs: point-estimate wins {point}, confident wins {confident}")
    assert point >= 12 and confident <= 6


def test_a_worse_challenger_is_not_promoted_for_losses_and_f1_too():
    rng = np.random.default_rng(3)
    y = rng.normal(size=500)
    good, bad = y + rng.normal(scale=0.5, size=500), y + rng.normal(scale=1.0, size=500)
    iv, d = _gate("rmse", PairedOutputs(y, bad, good))
    assert iv.improvement < 0 and iv.lower_bound < 0 and not d.promote
    iv, d = _gate("rmse", PairedOutputs(y, good, bad))  # lower RMSE is better
    assert iv.lower_bound > 0 and d.promote
    yc, signal = _rows(500, 4)
    sharp, blurred = signal, signal + rng.normal(scale=2.0, size=500)
    iv, d = _gate("f1", PairedOutputs(yc, 1 / (1 + np.exp(-blurred)),
                                      1 / (1 + np.exp(-sharp)), (0.5, 0.5)))  # fmt: skip
    assert iv.lower_bound < 0 and not d.promote


def test_the_interval_is_deterministic_with_the_seed():
    y, signal = _rows(300, 5)
    jitter = np.random.default_rng(6).normal(scale=0.5, size=300)
    paired = PairedOutputs(y, 1 / (1 + np.exp(-signal)), 1 / (1 + np.exp(-(signal + jitter))))
    a = improvement_interval("roc_auc", paired, 0.9, 1000, 7)
    assert a == improvement_interval("roc_auc", paired, 0.9, 1000, 7)
    assert a.lower_bound != improvement_interval("roc_auc", paired, 0.9, 1000, 8).lower_bound
    # a bigger margin than the bound: not promoted even though the bound is above 0
    _, d = _gate("roc_auc", paired, margin=a.lower_bound + 0.01, seed=7)
    assert not d.promote


def test_the_interval_rule_is_added_to_the_point_rule_on_every_deciding_set():
    y, signal = _rows(400, 8)
    noise = np.random.default_rng(9).normal(scale=2.0, size=400)
    iv = improvement_interval(
        "roc_auc",
        PairedOutputs(y, 1 / (1 + np.exp(-signal)), 1 / (1 + np.exp(-(signal + noise)))),
        0.9,
        1000,
        0,
    )
    scores = {RECENT: {"rows": 400, "challenger": 0.9, "champion": 0.7},
              BOTH: {"rows": 1400, "challenger": 0.80, "champion": 0.81}}  # fmt: skip
    deciding = {RECENT: "newest", BOTH: "both"}
    d = decide_on_sets("roc_auc", ("3", "2"), scores, deciding, 0.0, iv)
    assert not d.promote and d.evaluation_rows == 1400  # confident on recent, lost on both
    scores[BOTH]["challenger"] = 0.82
    assert decide_on_sets("roc_auc", ("3", "2"), scores, deciding, 0.0, iv).promote
    # no champion: promoted, no interval
    first = {BOTH: {"rows": 10, "challenger": 0.7, "champion": None}}
    d = decide_on_sets("roc_auc", ("1", None), first, {BOTH: "b"}, 0.0, None)
    assert d.promote and d.interval is None


@pytest.mark.parametrize("bad", [{"confidence": 0.3}, {"confidence": 1.0}, {"bootstrap": 10},
                                 {"confidence": -0.1}, {"bootstrap": 1000.5}])  # fmt: skip
def test_gate_keys_are_validated(bad):
    from pydantic import ValidationError

    from driftloop.config.spec import GateConfig

    with pytest.raises(ValidationError):
        GateConfig(**bad)
    assert GateConfig().confidence == 0.9 and GateConfig(confidence=0).confidence == 0
