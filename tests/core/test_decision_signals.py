"""Signals beside feature drift in the retrain rule: performance alone, per-signal streaks,
the cool-down for every signal, triggers by spec, and superseded verdicts."""

from __future__ import annotations

from driftloop.core.policy import SignalVerdict, alarms_of, decide_retrain

from .test_policy import policy, summary_with


def perf(fired: bool, trigger: bool = True) -> SignalVerdict:
    return SignalVerdict("performance", fired, trigger, "roc_auc fell" if fired else "fine")


def test_performance_alone_is_a_retrain_reason():
    d = decide_retrain(policy(), summary_with(set()), signals=[perf(True)])
    assert d.retrain and not d.window_drifted
    assert d.triggered_by == ("performance",) and d.alarms == ("performance",)
    assert d.fired == ("performance",)
    assert any(r.startswith("performance: roc_auc fell") for r in d.reasons)
    assert [s["signal"] for s in d.to_dict()["signals"]] == ["features", "performance"]


def test_performance_needs_its_consecutive_windows_and_waits_out_the_cooldown():
    p = policy(consecutive_windows=2, cooldown_s=600)
    first = decide_retrain(p, summary_with(set()), signals=[perf(True)])
    assert not first.retrain
    # a features alarm in the previous window does not make a performance streak
    mixed = decide_retrain(p, summary_with(set()), [{"features"}], signals=[perf(True)])
    assert not mixed.retrain
    second = decide_retrain(p, summary_with(set()), [first], signals=[perf(True)])
    assert second.retrain and second.triggered_by == ("performance",)
    cooling = decide_retrain(p, summary_with(set()), [first], last_retrain_at=1000.0,
                             now=1100.0, signals=[perf(True)])  # fmt: skip
    assert not cooling.retrain and cooling.cooldown_remaining_s == 500


def test_a_signal_that_is_not_a_trigger_is_reported_but_starts_nothing():
    moved = SignalVerdict("prediction_drift", True, False, "output moved")
    d = decide_retrain(policy(), summary_with(set()), signals=[moved])
    assert not d.retrain and d.fired == ("prediction_drift",) and d.alarms == ()


def test_performance_is_not_held_back_by_a_small_feature_window():
    d = decide_retrain(policy(min_rows=500), summary_with(set(), rows=100), signals=[perf(True)])
    assert d.retrain  # its own min_labelled_rows applies, judged inside the verdict


def test_a_verdict_about_a_replaced_model_is_superseded():
    drifted = summary_with({"monthly_charges", "f1", "f2", "f3", "f4"})
    d = decide_retrain(policy(), drifted, signals=[perf(True)], served_version="3",
                       champion_version="4")  # fmt: skip
    assert d.superseded and not d.retrain and d.triggered_by == ()
    assert set(d.alarms) == {"features", "performance"}  # recorded all the same
    assert any("superseded" in r and "v3" in r and "v4" in r for r in d.reasons)
    same = decide_retrain(policy(), drifted, served_version="4", champion_version="4")
    assert same.retrain and not same.superseded
    assert same.to_dict()["superseded"] is False


def test_alarms_of_a_stored_report():
    assert alarms_of({"alarms": ["performance"], "window_drifted": False}) == {"performance"}
    assert alarms_of({"window_drifted": True}) == {"features"}  # reports before signals
    assert alarms_of({"window_drifted": False}) == frozenset()
