"""The replay benchmark's scenarios: a data set (spec + CSV) and a stream of windows.

Each scenario builds its own data set in the run's folder (telco from ``data/``, the others
synthetic: nothing is downloaded), and after ``prepare`` its stream draws each window's rows
from the prepared test and validation splits, changed from ``onset`` on the way the scenario
says (with ``driftloop.core.simulate``'s transformations, the same ones /simulate-drift uses).
``changed`` marks the windows with a real change: a retrain decided on any other is false.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
TELCO_SPEC = ROOT / "configs" / "telco-quick.yaml"
TELCO_CSV = ROOT / "data" / "telco_churn.csv"


@dataclass(frozen=True)
class Window:
    """One window of the stream: feature rows, their true targets, and whether it changed."""

    frame: pd.DataFrame
    changed: bool


@dataclass(frozen=True)
class Scenario:
    """A data set and how its stream changes."""

    name: str
    build: Callable[[Path, int], Path]
    """Writes the spec (and data) into a folder for windows of n rows; returns the spec."""
    drift: str
    """none, numerical_shift, concept, gradual (core.simulate names)."""
    windows: int
    onset: int
    """First changed window (0-based); == windows for a stationary stream."""
    quick_windows: int


MODE = "calibrated"
"""drift.mode of every scenario (``--mode threshold`` replays with the fixed thresholds)."""


def _policy(window_rows: int, key_features: list[str]) -> dict[str, Any]:
    """The drift policy of configs/telco.yaml, at the replay's window size: calibrated feature
    tests (alpha 0.01 per feature, retrain_alpha 0.001 per window), the performance rule on
    each window's labelled rows."""
    return {"min_rows": window_rows // 2, "window_rows": window_rows, "drift_share": 0.2,
            "key_features": key_features, "consecutive_windows": 1, "cooldown_s": 60,
            "mode": MODE, "alpha": 0.01, "retrain_alpha": 0.001, "min_effect": 0.05,
            "threshold": 0.1,
            "performance": {"tolerance": 0.05, "tolerance_kind": "relative",
                            "min_labelled_rows": window_rows // 2, "window_rows": window_rows,
                            "confidence": 0.95, "trigger": True},
            "prediction": {"trigger": False}}  # fmt: skip


def build_telco(folder: Path, window_rows: int) -> Path:
    data = yaml.safe_load(TELCO_SPEC.read_text())
    data["source"] = str(TELCO_CSV)
    data["drift"] = _policy(window_rows, ["monthly_charges", "tenure", "contract"])
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return spec


_LIGHTGBM = {"name": "lightgbm", "kind": "lightgbm",
             "params": {"n_estimators": 80, "learning_rate": 0.05, "num_leaves": 15,
                        "min_child_samples": 30, "random_state": 42, "verbose": -1}}  # fmt: skip


def build_high_cardinality(folder: Path, window_rows: int, levels: int = 200) -> Path:
    """Stationary shop data: a ``store`` feature with ``levels`` Zipf-distributed levels
    (the rarest seen a few times), two numeric features, a binary target they drive."""
    rng = np.random.default_rng(7)
    n = 12_000
    weights = 1.0 / np.arange(1, levels + 1) ** 0.8
    store = rng.choice([f"s{i:03d}" for i in range(levels)], n, p=weights / weights.sum())
    effect = {f"s{i:03d}": e for i, e in enumerate(rng.normal(0, 0.8, levels))}
    spend, visits = rng.gamma(2.0, 30.0, n), rng.poisson(4, n).astype(float)
    logit = -1.0 + 0.02 * (spend - 60) + 0.15 * (visits - 4) + pd.Series(store).map(effect)
    bought = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    channel = rng.choice(["web", "app", "phone"], n, p=[0.5, 0.4, 0.1])
    pd.DataFrame({"spend": spend, "visits": visits, "store": store, "channel": channel,
                  "bought": bought}).to_csv(folder / "shop.csv", index=False)  # fmt: skip
    spec = {"name": "shop-high-cardinality", "source": str(folder / "shop.csv"),
            "task": "binary_classification", "target": "bought", "positive_class": "yes",
            "numeric_features": ["spend", "visits"], "categorical_features": ["store", "channel"],
            "split": {"train": 0.6, "valid": 0.2, "test": 0.2, "seed": 42,
                      "reference_rows": 5000},
            "metric": "roc_auc", "candidates": [_LIGHTGBM],
            "drift": _policy(window_rows, ["store"])}  # fmt: skip
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def build_regression(folder: Path, window_rows: int) -> Path:
    """Simulated booking prices: price from nights, guests and a room type (plus noise); the
    stream's relation drifts (``concept`` raises the prices of long stays)."""
    rng = np.random.default_rng(11)
    n = 10_000
    nights, guests = rng.integers(1, 15, n).astype(float), rng.integers(1, 5, n).astype(float)
    room = rng.choice(["standard", "deluxe", "suite"], n, p=[0.6, 0.3, 0.1])
    base = pd.Series(room).map({"standard": 80.0, "deluxe": 130.0, "suite": 220.0}).to_numpy()
    price = base * nights * (1 + 0.15 * (guests - 1)) + rng.normal(0, 40, n)
    pd.DataFrame({"nights": nights, "guests": guests, "room": room,
                  "price": price}).to_csv(folder / "bookings.csv", index=False)  # fmt: skip
    spec = {"name": "bookings-regression", "source": str(folder / "bookings.csv"),
            "task": "regression", "target": "price", "numeric_features": ["nights", "guests"],
            "categorical_features": ["room"],
            "split": {"train": 0.6, "valid": 0.2, "test": 0.2, "seed": 42,
                      "reference_rows": 5000},
            "metric": "rmse", "candidates": [{**_LIGHTGBM, "params": {
                k: v for k, v in _LIGHTGBM["params"].items()}}],
            "drift": _policy(window_rows, [])}  # fmt: skip
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("telco-stationary", build_telco, "none", 24, 24, 20),
    Scenario("telco-shift", build_telco, "numerical_shift", 12, 4, 8),
    Scenario("telco-concept", build_telco, "concept", 12, 4, 8),
    Scenario("telco-gradual", build_telco, "gradual", 14, 3, 10),
    Scenario("highcard-stationary", build_high_cardinality, "none", 24, 24, 20),
    Scenario("regression-concept", build_regression, "concept", 12, 4, 8),
)}  # fmt: skip


def stream(
    pool: pd.DataFrame, spec: Any, scenario: Scenario, windows: int, rows: int, seed: int = 0
) -> Iterator[Window]:
    """The scenario's windows: rows drawn from ``pool`` (features and the encoded target),
    changed from the onset on. ``gradual`` grows over the windows after the onset."""
    from driftloop.core.simulate import apply_drift, change_concept, sample_rows

    rng = np.random.default_rng(seed)
    numeric, categorical = list(spec.numeric_features), list(spec.categorical_features)
    onset = min(scenario.onset, windows)
    for i in range(windows):
        frame = sample_rows(pool, rows, rng)
        changed = scenario.drift != "none" and i >= onset
        if changed and scenario.drift == "concept":
            frame = change_concept(frame, pool, numeric, spec.target, spec.is_classification, rng)
        elif changed:
            intensity = min(1.0, (i - onset + 1) / 6) if scenario.drift == "gradual" else 1.0
            kind = "gradual" if scenario.drift == "gradual" else scenario.drift
            frame = apply_drift(frame, kind, numeric, categorical, rng, intensity)  # type: ignore[arg-type]
        yield Window(frame, changed)
