"""Simulated drift: pure transformations of held-out rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.simulate import DRIFT_TYPES, new_category_label, simulate_drift

NUMERIC = ["tenure", "monthly_charges", "female"]
CATEGORICAL = ["contract", "internet_service"]


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame({
        "tenure": rng.integers(0, 73, n).astype(float),
        "monthly_charges": rng.uniform(18, 118, n),
        "female": rng.integers(0, 2, n).astype(float),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], n, p=[.6, .3, .1]),
        "internet_service": rng.choice(["DSL", "Fiber optic", "No"], n),
        "churn": rng.integers(0, 2, n),
    })  # fmt: skip


def run(frame, drift_type, n=300, seed=1):
    return simulate_drift(frame, drift_type, n, NUMERIC, CATEGORICAL, seed, target="churn")


def test_none_samples_rows_unchanged(frame):
    out = run(frame, "none")
    assert len(out) == 300 and list(out.columns) == list(frame.columns)
    merged = out.merge(frame.drop_duplicates(), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_numerical_shift_moves_continuous_features_only(frame):
    out = run(frame, "numerical_shift")
    charges = out["monthly_charges"].astype(float)
    assert charges.min() > 18 * 1.5 and charges.mean() > frame["monthly_charges"].mean() * 1.5
    assert set(out["female"]) <= {0.0, 1.0}  # a 0/1 flag is not shifted
    assert out["contract"].isin(frame["contract"]).all()


def test_categorical_shift_moves_mass_to_the_rarest_category(frame):
    out = run(frame, "categorical_shift")
    assert (out["contract"] == "Two year").mean() > 0.7
    assert out["tenure"].tolist() == run(frame, "none")["tenure"].tolist()


def test_missing_values_blank_cells_of_every_feature(frame):
    out = run(frame, "missing_values")
    for col in NUMERIC + CATEGORICAL:
        share = out[col].isna().mean()
        assert 0.2 < share < 0.4, col
        assert not any(isinstance(v, float) and v != v for v in out[col])  # None, not NaN
    assert out["churn"].notna().all()  # the target is kept for feedback


def test_new_category_uses_unseen_labels(frame):
    out = run(frame, "new_category")
    for col in CATEGORICAL:
        assert 0.4 < (out[col] == new_category_label(col)).mean() < 0.6


def test_same_seed_same_rows_and_more_rows_than_the_frame(frame):
    for kind in DRIFT_TYPES:
        pd.testing.assert_frame_equal(run(frame, kind), run(frame, kind))
    assert len(run(frame, "none", n=1000)) == 1000
    with pytest.raises(ValueError, match="unknown drift type"):
        run(frame, "sideways")


# -- concept, gradual, prior ---------------------------------------------------------------
def _churn_by_tenure(rng: np.random.Generator, n: int = 2000) -> pd.DataFrame:
    tenure = rng.integers(0, 73, n).astype(float)
    churn = (rng.random(n) < np.where(tenure < 20, 0.5, 0.1)).astype(int)
    return pd.DataFrame({
        "tenure": tenure, "monthly_charges": rng.uniform(18, 118, n),
        "female": rng.integers(0, 2, n).astype(float),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
        "internet_service": rng.choice(["DSL", "Fiber optic", "No"], n), "churn": churn,
    })  # fmt: skip


def _concept(frame, classification=True, target="churn", seed=1):
    return simulate_drift(frame, "concept", 1500, NUMERIC, CATEGORICAL, seed, target=target,
                          classification=classification)  # fmt: skip


def test_concept_keeps_features_and_changes_labels_where_the_driver_is_high():
    frame = _churn_by_tenure(np.random.default_rng(3))
    out = _concept(frame)
    same = simulate_drift(frame, "none", 1500, NUMERIC, CATEGORICAL, 1)
    # the features are the rows "none" draws with the same seed: nothing for a feature test
    assert out[NUMERIC + CATEGORICAL].equals(same[NUMERIC + CATEGORICAL])
    long = out["tenure"] > frame["tenure"].median()
    assert (out.loc[~long, "churn"] == same.loc[~long, "churn"]).all()
    flipped = (out.loc[long, "churn"] != same.loc[long, "churn"]).mean()
    assert 0.6 < flipped < 0.8  # CONCEPT_FLIP_SHARE of the labels there
    assert out.loc[long, "churn"].mean() > 0.5 > frame.loc[frame["tenure"] >= 20, "churn"].mean()


def test_concept_regression_raises_targets_in_the_region():
    frame = _churn_by_tenure(np.random.default_rng(4))
    frame["price"] = frame["tenure"] * 2.0 + np.random.default_rng(5).normal(0, 5, len(frame))
    out = _concept(frame.drop(columns="churn"), classification=False, target="price")
    same = simulate_drift(frame.drop(columns="churn"), "none", 1500, NUMERIC, CATEGORICAL, 1)
    rise = out["price"] - same["price"]
    long = out["tenure"] > frame["tenure"].median()
    assert np.allclose(rise[long], frame["price"].std(ddof=0), rtol=0.05)
    assert (rise[~long] == 0).all()


def test_shift_and_concept_moves_the_inputs_and_the_labels_as_each_alone_does():
    frame = _churn_by_tenure(np.random.default_rng(3))
    both = simulate_drift(frame, "shift_and_concept", 1500, NUMERIC, CATEGORICAL, 1,
                          target="churn")  # fmt: skip
    shift = simulate_drift(frame, "numerical_shift", 1500, NUMERIC, CATEGORICAL, 1)
    assert both[NUMERIC + CATEGORICAL].equals(shift[NUMERIC + CATEGORICAL])
    assert not both[["tenure", "monthly_charges"]].equals(
        simulate_drift(frame, "none", 1500, NUMERIC, CATEGORICAL, 1)[["tenure", "monthly_charges"]]
    )
    assert both["churn"].equals(_concept(frame)["churn"])  # labels as concept changes them


def test_concept_needs_the_target():
    frame = _churn_by_tenure(np.random.default_rng(3))
    with pytest.raises(ValueError, match="target column 'nope'"):
        _concept(frame, target="nope")


def test_gradual_grows_with_the_step_and_stops_at_the_full_shift(frame):
    def mean_charges(step: int) -> float:
        out = simulate_drift(frame, "gradual", 300, NUMERIC, CATEGORICAL, 1, step=step)
        return float(out["monthly_charges"].astype(float).mean())

    means = [mean_charges(s) for s in (1, 2, 5, 10, 20)]
    assert means == sorted(means) and means[0] < means[1] < means[2] < means[3]
    full = float(run(frame, "numerical_shift")["monthly_charges"].astype(float).mean())
    assert means[3] == pytest.approx(full) and means[4] == pytest.approx(full)
    base = float(run(frame, "none")["monthly_charges"].astype(float).mean())
    assert base < means[0] < base + 0.2 * (full - base)  # the first call: a tenth of it
    with pytest.raises(ValueError, match="step"):
        simulate_drift(frame, "gradual", 10, NUMERIC, CATEGORICAL, 1, step=0)


def test_prior_moves_the_class_balance_and_keeps_features_per_class():
    frame = _churn_by_tenure(np.random.default_rng(6))
    out = simulate_drift(frame, "prior", 1000, NUMERIC, CATEGORICAL, 2, target="churn")
    assert out["churn"].mean() == pytest.approx(0.6, abs=0.01)
    assert frame["churn"].mean() < 0.35
    merged = out.merge(frame.drop_duplicates(), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()  # rows as they are, only their mix changed


def test_prior_regression_draws_more_high_targets():
    frame = _churn_by_tenure(np.random.default_rng(6)).drop(columns="churn")
    frame["price"] = np.random.default_rng(1).normal(100, 10, len(frame))
    out = simulate_drift(frame, "prior", 1000, NUMERIC, CATEGORICAL, 2, target="price",
                         classification=False)  # fmt: skip
    assert (out["price"] > frame["price"].median()).mean() == pytest.approx(0.6, abs=0.01)
