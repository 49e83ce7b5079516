from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftloop.config.errors import InputError
from driftloop.config.spec import load_spec

from ..support.paths import TELCO_SPEC


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def telco() -> dict:
    return yaml.safe_load(TELCO_SPEC.read_text())


def test_demo_spec_loads_and_resolves_source():
    spec = load_spec(TELCO_SPEC)
    assert spec.source.is_file()
    assert spec.target == "churn" and spec.positive_class == "Yes"
    assert {c.kind for c in spec.candidates} >= {
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
        "lightgbm",
    }


def test_unknown_key_is_named(tmp_path):
    data = telco()
    data["split"]["sed"] = 3
    with pytest.raises(InputError, match="unknown key 'split.sed'"):
        load_spec(write(tmp_path, data))


def test_unknown_top_level_key_is_named(tmp_path):
    data = telco() | {"targte": "x"}
    with pytest.raises(InputError, match="unknown key 'targte'"):
        load_spec(write(tmp_path, data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"split": {"train": 0.7, "valid": 0.2, "test": 0.2}}, "sum to 1"),
        ({"metric": "rmse"}, "does not fit task"),
        ({"positive_class": None}, "positive_class is required"),
        ({"candidates": []}, "at least one candidate"),
        ({"drift": {"key_features": ["nope"]}}, "nope"),
    ],
)
def test_inconsistent_specs_are_refused(tmp_path, change, message):
    with pytest.raises(InputError, match=message):
        load_spec(write(tmp_path, telco() | change))


def test_missing_spec_file(tmp_path):
    with pytest.raises(InputError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_regression_task_is_supported(tmp_path):
    data = telco() | {
        "task": "regression",
        "target": "monthly_charges",
        "positive_class": None,
        "metric": "rmse",
    }
    data["numeric_features"] = [f for f in data["numeric_features"] if f != "monthly_charges"]
    data["drift"]["key_features"] = ["tenure"]
    data["candidates"] = [
        {"name": "ridge", "kind": "linear_regression"},
        {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 20}},
    ]
    spec = load_spec(write(tmp_path, data))
    assert not spec.is_classification
