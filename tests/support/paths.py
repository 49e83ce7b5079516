"""The repository's files the tests read, and the light spec they train with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TELCO = ROOT / "data" / "telco_churn.csv"
TELCO_SPEC = ROOT / "configs" / "telco.yaml"


def light_spec_data() -> dict[str, Any]:
    """The telco spec with two quick candidates (for tests that need a trained champion)."""
    import yaml

    data = yaml.safe_load(TELCO_SPEC.read_text())
    data["source"] = str(TELCO)
    data["candidates"] = [
        {"name": "logistic_regression", "kind": "logistic_regression", "params": {"max_iter": 500}},
        {
            "name": "lightgbm",
            "kind": "lightgbm",
            "params": {"n_estimators": 60, "num_leaves": 15, "verbose": -1, "random_state": 1},
        },
    ]
    return data


def write_light_spec(path: Path) -> Path:
    """The light spec as a YAML file at ``path``; returns the path."""
    import yaml

    path.write_text(yaml.safe_dump(light_spec_data()))
    return path
