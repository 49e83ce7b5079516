"""driftloop's retrain rule: window verdict, then size, repetition and cool-down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftloop.config.spec import DriftPolicyConfig, load_spec
from driftloop.core.drift_reference import compute_drift
from driftloop.core.drift_verdict import DriftSummary, FeatureDrift
from driftloop.core.policy import RetrainDecision, decide_retrain

ROOT = Path(__file__).resolve().parents[2]
FEATURES = tuple(f"f{i}" for i in range(19)) + ("monthly_charges",)


def summary_with(drifted: set[str], rows: int = 1000, features=FEATURES) -> DriftSummary:
    feats = tuple(
        FeatureDrift(
            feature=name,
            kind="numeric",
            method="wasserstein",
            score=0.5 if name in drifted else 0.01,
            threshold=0.1,
            drifted=name in drifted,
            distribution_drifted=name in drifted,
            missing_share_ref=0.0,
            missing_share_cur=0.0,
            unseen_share=0.0,
            signals=("distribution",) if name in drifted else (),
        )
        for name in features
    )
    names = tuple(f.feature for f in feats if f.drifted)
    return DriftSummary(
        rows_reference=5000,
        rows_current=rows,
        threshold=0.1,
        features=feats,
        drifted_features=names,
        drift_share=len(names) / len(feats),
        max_score=max(f.score for f in feats if f.score is not None),
    )


def policy(**kw) -> DriftPolicyConfig:
    base = {"min_rows": 200, "drift_share": 0.2, "consecutive_windows": 1, "cooldown_s": 60}
    return DriftPolicyConfig(**(base | kw))


def test_no_drift_no_retrain() -> None:
    d = decide_retrain(policy(), summary_with(set()))
    assert not d.retrain and not d.window_drifted
    assert d.reasons == ("0/20 features drifted (0.0%) < 20%",)


def test_share_of_drifted_features_triggers() -> None:
    d = decide_retrain(policy(), summary_with({"f0", "f1", "f2", "f3"}))
    assert d.retrain and d.window_drifted
    assert "4/20 features drifted (20.0%) >= 20%" in d.reasons
    assert "1 of 1 consecutive windows drifted" in d.reasons


def test_share_below_the_policy_does_not_trigger() -> None:
    d = decide_retrain(policy(), summary_with({"f0", "f1", "f2"}))
    assert not d.retrain and not d.window_drifted
    assert d.reasons == ("3/20 features drifted (15.0%) < 20%",)


def test_a_key_feature_alone_triggers() -> None:
    d = decide_retrain(policy(key_features=("monthly_charges",)), summary_with({"monthly_charges"}))
    assert d.retrain and d.key_features_drifted == ("monthly_charges",)
    assert "key feature monthly_charges drifted" in d.reasons
    # The same single drift without it being a key feature is only 5%.
    assert not decide_retrain(policy(), summary_with({"monthly_charges"})).retrain


def test_small_window_is_drifted_but_does_not_retrain() -> None:
    d = decide_retrain(policy(), summary_with(set(FEATURES[:10]), rows=120))
    assert d.window_drifted and not d.retrain
    assert "window of 120 rows < min_rows 200" in d.reasons


def test_consecutive_windows_are_needed() -> None:
    p = policy(consecutive_windows=2)
    drifted = summary_with(set(FEATURES[:10]))
    first = decide_retrain(p, drifted, history=[False])
    assert first.window_drifted and not first.retrain
    assert "1 of 2 consecutive windows drifted" in first.reasons
    second = decide_retrain(p, drifted, history=[False, first])
    assert second.retrain and second.consecutive_drifted == 2
    assert "2 of 2 consecutive windows drifted" in second.reasons
    # A clean window in between breaks the run.
    assert not decide_retrain(p, drifted, history=[True, False]).retrain


def test_cool_down_blocks_a_retrain() -> None:
    drifted = summary_with(set(FEATURES[:10]))
    d = decide_retrain(policy(), drifted, last_retrain_at=1000.0, now=1030.0)
    assert d.window_drifted and not d.retrain
    assert "cool-down: last retrain 30 s ago < 60 s" in d.reasons
    assert d.cooldown_remaining_s == pytest.approx(30.0)
    later = decide_retrain(policy(), drifted, last_retrain_at=1000.0, now=1060.0)
    assert later.retrain and later.cooldown_remaining_s == 0.0


def test_cool_down_accepts_datetimes_and_needs_now() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    drifted = summary_with(set(FEATURES[:10]))
    d = decide_retrain(policy(), drifted, last_retrain_at=now - timedelta(seconds=10), now=now)
    assert not d.retrain and d.cooldown_remaining_s == pytest.approx(50.0)
    with pytest.raises(ValueError, match="now is required"):
        decide_retrain(policy(), drifted, last_retrain_at=now)


def test_decision_is_json_serialisable() -> None:
    d = decide_retrain(policy(key_features=("f0",)), summary_with({"f0"}))
    assert isinstance(d, RetrainDecision)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["retrain"] is True and data["key_features_drifted"] == ["f0"]


def test_no_retrain_on_random_splits_of_telco_with_its_policy() -> None:
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    df = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    df["total_charges"] = pd.to_numeric(df["total_charges"], errors="coerce")
    history: list[RetrainDecision] = []
    for seed in range(20):
        idx = np.random.default_rng(100 + seed).permutation(len(df))
        ref, cur = df.iloc[idx[1000:]], df.iloc[idx[:1000]]
        summary = compute_drift(
            ref, cur, spec.numeric_features, spec.categorical_features, spec.drift.threshold
        )
        d = decide_retrain(spec.drift, summary, history=history)
        assert not d.retrain and not d.window_drifted, (seed, d.reasons)
        history.append(d)


def test_shifted_telco_window_retrains_with_its_policy() -> None:
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    df = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    df["total_charges"] = pd.to_numeric(df["total_charges"], errors="coerce")
    ref, cur = df.iloc[1000:], df.iloc[:1000].copy()
    cur["monthly_charges"] = cur["monthly_charges"] * 1.5 + 20
    summary = compute_drift(
        ref, cur, spec.numeric_features, spec.categorical_features, spec.drift.threshold
    )
    d = decide_retrain(spec.drift, summary)
    assert d.retrain and d.key_features_drifted == ("monthly_charges",)
    assert "1/19 features drifted (5.3%) < 20%" in d.reasons
