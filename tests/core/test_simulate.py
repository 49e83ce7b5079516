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
    return simulate_drift(frame, drift_type, n, NUMERIC, CATEGORICAL, seed)


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
