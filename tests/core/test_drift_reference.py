"""Per-feature drift statistics: definitions match Evidently's, verdicts on the telco data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from driftloop.config.spec import load_spec
from driftloop.core.drift_distance import jensen_shannon, wasserstein_normed
from driftloop.core.drift_reference import compute_drift
from driftloop.core.drift_verdict import DriftSummary

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "configs" / "telco.yaml")
NUM, CAT = SPEC.numeric_features, SPEC.categorical_features
THRESHOLD = SPEC.drift.threshold


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    df = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    df["total_charges"] = pd.to_numeric(df["total_charges"], errors="coerce")
    return df


def split(df: pd.DataFrame, seed: int, window: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference = all rows but a random window; current = the window (copied)."""
    idx = np.random.default_rng(seed).permutation(len(df))
    return df.iloc[idx[window:]], df.iloc[idx[:window]].copy()


def evidently_wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    # Evidently's definition, spelled out with scipy (wasserstein_distance_norm.py).
    return stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)


@pytest.mark.parametrize(
    ("n", "m", "decimals"), [(2, 3, None), (50, 70, 1), (1000, 333, 2), (4000, 4000, None)]
)
def test_wasserstein_matches_evidentlys_definition(n: int, m: int, decimals: int | None) -> None:
    rng = np.random.default_rng(n + m)
    ref, cur = rng.normal(size=n), rng.normal(0.2, 1.3, size=m)
    if decimals is not None:  # rounding makes ties, the tricky case for a merged CDF
        ref, cur = ref.round(decimals), cur.round(decimals)
    assert wasserstein_normed(ref, cur) == pytest.approx(evidently_wasserstein(ref, cur), rel=1e-9)


def test_wasserstein_floors_the_norm_of_a_constant_reference() -> None:
    ref, cur = np.full(100, 3.0), np.full(100, 3.5)
    assert wasserstein_normed(ref, cur) == pytest.approx(0.5 / 0.001)


def test_jensen_shannon_matches_scipy_natural_log() -> None:
    p, q = np.array([40.0, 30, 20, 10, 0]), np.array([30.0, 30, 20, 10, 10])
    assert jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q))


def test_no_drift_on_random_splits_of_the_same_data(telco: pd.DataFrame) -> None:
    for seed in range(20):
        ref, cur = split(telco, seed)
        summary = compute_drift(ref, cur, NUM, CAT, THRESHOLD)
        assert summary.drifted_features == (), (seed, summary.drifted_features)
        assert summary.max_score < THRESHOLD


def test_small_references_do_not_over_report(telco: pd.DataFrame) -> None:
    # Evidently's chi-square flagged ~43% of identical columns at this size; distances do not.
    shares = []
    for seed in range(10):
        idx = np.random.default_rng(seed).permutation(len(telco))
        ref, cur = telco.iloc[idx[:300]], telco.iloc[idx[300:600]]
        shares.append(compute_drift(ref, cur, NUM, CAT, THRESHOLD).drift_share)
    assert np.mean(shares) < 0.1


def test_detects_the_tutorials_monthly_charges_shift(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 0)
    cur["monthly_charges"] = cur["monthly_charges"] * 1.5 + 20
    summary = compute_drift(ref, cur, NUM, CAT, THRESHOLD)
    assert summary.drifted_features == ("monthly_charges",)
    feat = summary.feature("monthly_charges")
    assert feat.kind == "numeric" and feat.method == "wasserstein"
    assert feat.signals == ("distribution",) and feat.score > 1.0
    assert summary.max_score == feat.score
    assert summary.drift_share == pytest.approx(1 / 19)


def test_detects_a_categorical_shift(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 1)
    cur["contract"] = np.random.default_rng(0).choice(
        ["Month-to-month", "One year", "Two year"], size=len(cur), p=[0.9, 0.05, 0.05]
    )
    feat = compute_drift(ref, cur, NUM, CAT, THRESHOLD).feature("contract")
    assert (feat.kind, feat.method, feat.drifted) == ("categorical", "jensenshannon", True)
    assert feat.signals == ("distribution",) and feat.unseen_share == 0.0


def test_low_cardinality_numeric_uses_jensen_shannon_like_evidently(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 2)
    summary = compute_drift(ref, cur, NUM, CAT, THRESHOLD)
    assert summary.feature("senior_citizen").method == "jensenshannon"  # 0/1 values
    assert summary.feature("tenure").method == "wasserstein"
    cur["senior_citizen"] = 1.0
    assert compute_drift(ref, cur, ["senior_citizen"], [], THRESHOLD).drifted_features == (
        "senior_citizen",
    )


def test_missing_values_compared_on_present_values_and_jump_reported(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 3)
    rng = np.random.default_rng(0)
    cur.loc[rng.random(len(cur)) < 0.3, "tenure"] = np.nan
    cur.loc[rng.random(len(cur)) < 0.3, "internet_service"] = None
    summary = compute_drift(ref, cur, NUM, CAT, THRESHOLD)
    for name in ("tenure", "internet_service"):
        feat = summary.feature(name)
        assert feat.signals == ("missing",), feat
        assert not feat.distribution_drifted and feat.score < THRESHOLD
        assert feat.missing_share_ref == 0.0
        assert feat.missing_share_cur == pytest.approx(0.3, abs=0.05)
    # total_charges has 11 blanks in the file: a share, but no jump.
    tc = summary.feature("total_charges")
    assert tc.missing_share_ref + tc.missing_share_cur > 0 and not tc.drifted


def test_a_small_missing_share_alone_is_not_drift(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 4)
    cur.iloc[:30, cur.columns.get_loc("tenure")] = np.nan  # 3%
    feat = compute_drift(ref, cur, ["tenure"], [], THRESHOLD).feature("tenure")
    assert feat.missing_share_cur == pytest.approx(0.03) and not feat.drifted


def test_infinite_values_count_as_missing() -> None:
    ref = pd.DataFrame({"x": np.arange(100.0)})
    cur = pd.DataFrame({"x": np.r_[np.arange(80.0), np.full(20, np.inf)]})
    feat = compute_drift(ref, cur, ["x"], [], THRESHOLD).feature("x")
    assert feat.missing_share_cur == pytest.approx(0.2) and "missing" in feat.signals


def test_new_category_share_is_drift(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 5)
    cur.iloc[:150, cur.columns.get_loc("payment_method")] = "Crypto"  # 15% unseen
    feat = compute_drift(ref, cur, NUM, CAT, THRESHOLD).feature("payment_method")
    assert feat.unseen_share == pytest.approx(0.15)
    assert "new_category" in feat.signals and feat.drifted


def test_a_rare_new_category_alone_is_not_drift(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 6)
    cur.iloc[:20, cur.columns.get_loc("payment_method")] = "Crypto"  # 2%
    feat = compute_drift(ref, cur, [], ["payment_method"], THRESHOLD).feature("payment_method")
    assert feat.unseen_share == pytest.approx(0.02) and not feat.drifted


def test_an_all_missing_column_has_no_score_but_drifts() -> None:
    ref = pd.DataFrame({"x": np.arange(50.0), "c": ["a", "b"] * 25})
    cur = pd.DataFrame({"x": [np.nan] * 40, "c": [None] * 40})
    summary = compute_drift(ref, cur, ["x"], ["c"], THRESHOLD)
    for feat in summary.features:
        assert feat.score is None and feat.signals == ("missing",)
    assert summary.max_score == 0.0 and summary.drift_share == 1.0


def test_drifted_when_score_equals_threshold(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 7)
    score = compute_drift(ref, cur, ["tenure"], [], THRESHOLD).feature("tenure").score
    assert score is not None
    at = compute_drift(ref, cur, ["tenure"], [], score).feature("tenure")
    assert at.drifted and at.distribution_drifted
    above = compute_drift(ref, cur, ["tenure"], [], score * 1.000001).feature("tenure")
    assert not above.drifted


def test_absent_columns_are_named(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 8)
    cur = cur.drop(columns=["tenure", "contract"])
    with pytest.raises(ValueError, match="current data: tenure, contract"):
        compute_drift(ref, cur, NUM, CAT, THRESHOLD)


@pytest.mark.parametrize(
    ("ref", "cur", "num", "cat", "message"),
    [
        ({"x": [1.0]}, {"x": [1.0]}, ["x"], ["x"], "both numeric and categorical: x"),
        ({"x": ["a"]}, {"x": [1.0]}, ["x"], [], "numeric column 'x' in the reference"),
        ({"x": [1.0]}, {"x": []}, ["x"], [], "current data has no rows"),
    ],
)
def test_bad_input_is_a_value_error(ref, cur, num, cat, message) -> None:
    with pytest.raises(ValueError, match=message):
        compute_drift(pd.DataFrame(ref), pd.DataFrame(cur), num, cat, THRESHOLD)


def test_summary_round_trips_through_json(telco: pd.DataFrame) -> None:
    ref, cur = split(telco, 9)
    cur["monthly_charges"] = cur["monthly_charges"] * 1.5 + 20
    summary = compute_drift(ref, cur, NUM, CAT, THRESHOLD)
    assert isinstance(summary, DriftSummary)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["rows_reference"] == len(ref) and data["rows_current"] == len(cur)
    assert data["drifted_features"] == ["monthly_charges"]
    assert [f["feature"] for f in data["features"]] == [*NUM, *CAT]
    assert data["features"][1]["signals"] == ["distribution"]
