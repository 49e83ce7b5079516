"""The decision threshold of a binary model: the probability above which it says positive.

Chosen on the validation split by the spec's rule (a fixed value, the F1-maximising cut-off,
or the cheapest under given false-positive / false-negative costs) and stored with the
model, so serving labels follow what training chose. Pure: labels and scores in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftloop.config.spec import CostThreshold, ThresholdRule

DEFAULT_THRESHOLD = 0.5
THRESHOLD_TAG = "decision_threshold"
"""Model version tag (and run parameter) holding the threshold."""


@dataclass(frozen=True)
class ThresholdChoice:
    """A chosen threshold and the rule that chose it."""

    value: float
    rule: str
    """``fixed``, ``max_f1`` or ``cost(fp=X,fn=Y)``."""


def _confusion(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cut-offs, false positives, false negatives) with a cut-off between each pair of
    neighbouring distinct scores (positive when score > cut-off), the last below them all."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # last index of each score
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    fn = ys.sum() - tp
    distinct = ps[last]
    cuts = np.r_[(distinct[:-1] + distinct[1:]) / 2, -np.inf]
    return cuts, fp, fn


def choose_threshold(y_true: np.ndarray, proba: np.ndarray, rule: ThresholdRule) -> ThresholdChoice:
    """The threshold the rule picks on labelled validation scores (a fixed rule is kept)."""
    if isinstance(rule, int | float):
        return ThresholdChoice(float(rule), "fixed")
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    if len(y) == 0 or y.min() == y.max():
        return ThresholdChoice(DEFAULT_THRESHOLD, "default (validation has one class)")
    cuts, fp, fn = _confusion(y, p)
    tp = y.sum() - fn
    if isinstance(rule, CostThreshold):
        cost = rule.cost_fp * fp + rule.cost_fn * fn
        i = int(np.argmin(cost))
        label = f"cost(fp={rule.cost_fp:g},fn={rule.cost_fn:g})"
    else:
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        i = int(np.argmax(f1))
        label = "max_f1"
    value = float(np.clip(cuts[i], 0.0, 1.0 - 1e-12)) if np.isfinite(cuts[i]) else 0.0
    return ThresholdChoice(value, label)


def threshold_from_tags(tags: dict[str, str]) -> float:
    """A model version's stored threshold (0.5 for models trained before it was stored)."""
    raw = tags.get(THRESHOLD_TAG)
    try:
        value = float(raw) if raw is not None else DEFAULT_THRESHOLD
    except ValueError:
        return DEFAULT_THRESHOLD
    return value if 0.0 <= value < 1.0 else DEFAULT_THRESHOLD


def fit_threshold(
    pipeline: object, x_valid: object, y_valid: np.ndarray, rule: ThresholdRule | None
) -> ThresholdChoice:
    """The threshold for a fitted classifier from its validation scores; ``None`` (regression)
    gives the default, which nothing uses."""
    if rule is None:
        return ThresholdChoice(DEFAULT_THRESHOLD, "none (regression)")
    if isinstance(rule, int | float):
        return ThresholdChoice(float(rule), "fixed")
    proba = pipeline.predict_proba(x_valid)[:, 1]  # type: ignore[attr-defined]
    return choose_threshold(y_valid, proba, rule)
