"""Infer a data set spec from the data: features, dropped columns, task, metric, candidates.

Pure: a raw frame in, a ``SpecInference`` out: the spec as a mapping plus a reason for
every choice (``driftloop init`` writes them as comments). Drift key features come from
a quick, seeded LightGBM on a sample (``driftloop.core.feature_importance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from driftloop.config.errors import InputError
from driftloop.core.column_profile import ColumnProfile, as_numbers, non_blank, profile_column
from driftloop.core.feature_importance import rank_features

TaskChoice = Literal["classification", "regression"]
IMBALANCED_SHARE = 0.2
"""A binary target whose minority class is rarer than this is called imbalanced."""
KEY_FEATURES = 3
"""Most important features whose drift alone triggers a retrain."""


@dataclass(frozen=True)
class SpecInference:
    """An inferred spec and why each part of it is what it is."""

    spec: dict[str, Any]
    """Keys and values as in a spec file (``source`` as given)."""
    columns: tuple[ColumnProfile, ...]
    reasons: dict[str, str] = field(default_factory=dict)
    """Top-level spec key -> why it has its value."""
    importances: dict[str, float] = field(default_factory=dict)
    """Feature -> share of the quick model's gain, largest first."""

    @property
    def dropped(self) -> tuple[ColumnProfile, ...]:
        """Columns left out of the features, with the reason in each."""
        return tuple(c for c in self.columns if not c.is_feature)


@dataclass(frozen=True)
class _Target:
    task: str
    positive_class: str | None
    positive_share: float | None
    reason: str


def _infer_target(values: pd.Series, target: str, task: TaskChoice | None) -> _Target:
    present = non_blank(values)
    if present.empty:
        raise InputError(f"target column '{target}' has no values")
    labels = present.astype(str).str.strip()
    numbers = as_numbers(present)
    numeric = bool(numbers.notna().all())
    distinct = int(labels.nunique())
    if task == "regression" or (task is None and numeric and distinct > 2):
        if not numeric:
            bad = labels[numbers.isna()].unique()[:3]
            raise InputError(f"target column '{target}' is not numeric (e.g. {list(bad)})")
        how = "given by --task" if task else f"numeric target with {distinct} distinct values"
        return _Target("regression", None, None, f"regression: {how}")
    if distinct != 2:
        raise InputError(
            f"target column '{target}' has {distinct} distinct values; driftloop models binary "
            "classification (two values) or regression (numbers: pass --task regression)"
        )
    counts = labels.value_counts()
    # the minority class is positive; on a tie, the later label in sorted order ("1", "Yes")
    positive = sorted(counts.index, key=lambda v: (-counts[v], v))[-1]
    share = float(counts[positive] / counts.sum())
    how = "given by --task" if task else "two distinct values"
    return _Target(
        "binary_classification",
        str(positive),
        share,
        f"binary classification: {how}; positive class {positive!r} is the minority "
        f"({share:.1%} of {int(counts.sum())} labelled rows)",
    )


def _metric(t: _Target) -> tuple[str, str]:
    if t.task == "regression":
        return "rmse", "rmse: root mean squared error, in the target's units"
    assert t.positive_share is not None
    if t.positive_share < IMBALANCED_SHARE:
        return "pr_auc", (
            f"pr_auc (average precision): positives are {t.positive_share:.1%} of rows, "
            "where ROC AUC looks good even when positives are mostly missed"
        )
    return "roc_auc", f"roc_auc: classes are balanced enough ({t.positive_share:.1%} positive)"


def _threshold(t: _Target) -> tuple[Any, str]:
    if t.positive_share is not None and t.positive_share < IMBALANCED_SHARE:
        return "max_f1", (
            "max_f1: the label cut-off that maximises F1 on the validation split "
            "(a fixed 0.5 predicts almost no positives on imbalanced data)"
        )
    return 0.5, "0.5: probability above which the positive label is predicted"


def _candidates(task: str, rows: int) -> list[dict[str, Any]]:
    min_child = max(5, min(30, rows // 200))
    lgbm = {"n_estimators": 300, "learning_rate": 0.03, "num_leaves": 15,
            "min_child_samples": min_child, "subsample": 0.8, "subsample_freq": 1,
            "colsample_bytree": 0.8, "random_state": 42, "verbose": -1}  # fmt: skip
    hgb = {"learning_rate": 0.05, "max_iter": 200, "random_state": 42}
    forest = {"n_estimators": 200, "min_samples_leaf": 5, "n_jobs": 2, "random_state": 42}
    linear: dict[str, Any] = (
        {"name": "logistic_regression", "kind": "logistic_regression",
         "params": {"C": 1.0, "max_iter": 1000}}
        if task == "binary_classification"
        else {"name": "ridge", "kind": "linear_regression", "params": {"alpha": 1.0}}
    )  # fmt: skip
    return [
        linear,
        {"name": "random_forest", "kind": "random_forest", "params": forest},
        {"name": "hist_gradient_boosting", "kind": "hist_gradient_boosting", "params": hgb},
        {"name": "lightgbm", "kind": "lightgbm", "params": lgbm},
    ]


def infer_spec(
    frame: pd.DataFrame,
    target: str,
    name: str,
    source: str,
    task: TaskChoice | None = None,
    sample_rows: int = 20_000,
) -> SpecInference:
    """A spec for ``frame`` predicting ``target``; InputError naming what does not fit."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    if target not in frame.columns:
        raise InputError(
            f"target column '{target}' is not in the data (columns: "
            f"{', '.join(map(str, frame.columns[:20]))})"
        )
    t = _infer_target(frame[target], target, task)
    profiles = tuple(profile_column(c, frame[c]) for c in frame.columns if c != target)
    numeric = [p.name for p in profiles if p.role == "numeric"]
    categorical = [p.name for p in profiles if p.role == "categorical"]
    if not numeric and not categorical:
        raise InputError("no usable feature columns: every column was dropped (see reasons)")
    metric, metric_reason = _metric(t)
    threshold, threshold_reason = _threshold(t)
    labelled = frame.loc[non_blank(frame[target]).index]
    importances = rank_features(
        labelled, target, numeric, categorical, t.positive_class, sample_rows
    )
    keys = list(importances)[:KEY_FEATURES]
    spec: dict[str, Any] = {
        "name": name, "source": source, "task": t.task, "target": target,
        "positive_class": t.positive_class, "numeric_features": numeric,
        "categorical_features": categorical, "drop_columns": [p.name for p in profiles
                                                               if not p.is_feature],
        "split": {"train": 0.7, "valid": 0.15, "test": 0.15, "seed": 42,
                  "reference_rows": 5000},
        "metric": metric, "threshold": threshold,
        "candidates": _candidates(t.task, len(labelled)),
        "drift": {"min_rows": 200, "window_rows": 1000, "drift_share": 0.2,
                  "key_features": keys, "consecutive_windows": 1, "cooldown_s": 600,
                  "threshold": 0.1},
    }  # fmt: skip
    if t.positive_class is None:
        del spec["positive_class"], spec["threshold"]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in list(importances.items())[:KEY_FEATURES])
    reasons = {
        "task": t.reason, "metric": metric_reason, "threshold": threshold_reason,
        "drop_columns": "left out of the model; each column's reason is beside it"
        if spec["drop_columns"] else "nothing dropped: every column is a feature",
        "candidates": "a linear baseline and three tree ensembles; the best on the "
                      "validation split by the metric is registered",
        "drift": f"key_features: the {len(keys)} most important features of a quick LightGBM "
                 f"on {min(len(labelled), sample_rows)} rows (share of gain: {shares}); "
                 "drift in any of them alone triggers a retrain",
    }  # fmt: skip
    return SpecInference(spec, profiles, reasons, importances)
