"""Spec inference: column roles, task and positive class, metric, threshold, drift keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec
from driftloop.core.column_profile import looks_like_id_name, profile_column
from driftloop.core.spec_inference import infer_spec


def mixed_frame(n: int = 600, positive_share: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """Strings, as prepare reads a CSV: ids, a date, a constant, codes, numbers, categories."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, n)
    plan = rng.integers(1, 5, n)
    score = amount / 100 + (plan == 3) + rng.normal(0, 0.5, n)
    target = np.where(score > np.quantile(score, 1 - positive_share), "churned", "stayed")
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)],
        "row_number": [str(i) for i in range(n)],
        "signup_date": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "country": ["NL"] * n,
        "plan_code": plan.astype(str),
        "amount": [f"{v:.2f}" for v in amount],
        "segment": rng.choice(["a", "b", "c"], n),
        "is_member": rng.integers(0, 2, n).astype(str),
        "outcome": target,
    })  # fmt: skip


def test_columns_get_their_roles_and_reasons():
    frame = mixed_frame()
    roles = {c: profile_column(c, frame[c]) for c in frame.columns if c != "outcome"}
    assert {c: p.role for c, p in roles.items()} == {
        "customer_id": "id", "row_number": "id", "signup_date": "date", "country": "constant",
        "plan_code": "categorical", "amount": "numeric", "segment": "categorical",
        "is_member": "numeric",
    }  # fmt: skip
    assert "integer code with 4 values" in roles["plan_code"].reason
    assert "constant" in roles["country"].reason and "NL" in roles["country"].reason
    assert "different value on each of 600 rows" in roles["row_number"].reason


def test_id_names():
    for name in ("id", "customer_id", "customerID", "userId", "order_key", "uuid", "id_user"):
        assert looks_like_id_name(name), name
    for name in ("paid", "idle_time", "valid", "width", "monkey_count"):
        assert not looks_like_id_name(name), name


def test_a_low_cardinality_id_named_column_is_a_category():
    frame = pd.DataFrame({"store_id": [str(i % 4) for i in range(200)]})
    assert profile_column("store_id", frame["store_id"]).role == "categorical"


def test_binary_spec_names_the_minority_class_and_validates():
    inf = infer_spec(mixed_frame(), "outcome", "mixed", "mixed.csv")
    spec = DatasetSpec.model_validate(inf.spec)
    assert spec.task == "binary_classification" and spec.positive_class == "churned"
    assert set(spec.drop_columns) == {"customer_id", "row_number", "signup_date", "country"}
    assert set(spec.features) == {"plan_code", "amount", "segment", "is_member"}
    assert spec.metric == "roc_auc" and spec.threshold == 0.5
    assert "minority (30.0%" in inf.reasons["task"]
    # amount and plan_code carry the signal; the quick model finds them
    assert set(spec.drift.key_features[:2]) == {"amount", "plan_code"}
    assert list(inf.importances)[:2] == list(spec.drift.key_features[:2])


def test_imbalanced_binary_gets_average_precision_and_max_f1():
    inf = infer_spec(mixed_frame(positive_share=0.05), "outcome", "rare", "rare.csv")
    spec = DatasetSpec.model_validate(inf.spec)
    assert spec.metric == "pr_auc" and spec.threshold == "max_f1"
    assert "5.0%" in inf.reasons["metric"]


def test_numeric_target_with_many_values_is_regression():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=300), "y": rng.normal(size=300)})
    inf = infer_spec(frame, "y", "reg", "reg.csv")
    spec = DatasetSpec.model_validate(inf.spec)
    assert spec.task == "regression" and spec.metric == "rmse" and spec.positive_class is None
    assert {c.kind for c in spec.candidates} >= {"linear_regression", "lightgbm"}


def test_unknown_target_and_unusable_targets_are_named():
    frame = mixed_frame(100)
    with pytest.raises(InputError, match="target column 'nope' is not in the data"):
        infer_spec(frame, "nope", "x", "x.csv")
    with pytest.raises(InputError, match="'segment' has 3 distinct values"):
        infer_spec(frame, "segment", "x", "x.csv")
    with pytest.raises(InputError, match="not numeric"):
        infer_spec(frame, "outcome", "x", "x.csv", task="regression")
