"""The performance signal: is the serving model scoring worse on labelled production rows than
it did on its own test split, by more than the tolerance, with confidence?

The degradation is ``test score - window score`` for a metric where higher is better (the
reverse for a loss), divided by the test score when the tolerance is relative. The window's
rows are resampled (a seeded bootstrap, every draw scored at once with weighted metrics) and
the breach needs the ``1 - confidence`` quantile of the degradation — its one-sided lower
bound — to clear the tolerance, so a small or noisy window does not fire however bad its
point estimate looks. Pure: labels and model outputs in, a verdict out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from driftloop.config.spec import LOWER_IS_BETTER, PerformancePolicyConfig
from driftloop.core.metrics import classification_metrics, regression_metrics
from driftloop.core.policy import PERFORMANCE, SignalVerdict

_EPS = 1e-15


@dataclass(frozen=True)
class PerformanceCheck:
    """The serving model on one labelled window, against its test-split score."""

    metric: str
    rows: int
    baseline: float | None
    baseline_source: str
    """Where the test score came from (a model version tag), or why there is none."""
    score: float | None
    metrics: dict[str, float]
    """The task's metrics on the window (point estimates)."""
    degradation: float | None
    lower_bound: float | None
    tolerance: float
    tolerance_kind: str
    confidence: float
    breached: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN as None)."""
        out = asdict(self)
        out["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        return out

    def verdict(self, policy: PerformancePolicyConfig) -> SignalVerdict:
        """This check as the decision's ``performance`` signal."""
        return SignalVerdict(PERFORMANCE, self.breached, policy.trigger, self.reason,
                             self.to_dict())  # fmt: skip


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def baseline_score(tags: dict[str, str], metric: str) -> tuple[float | None, str]:
    """A model version's own held-out score: the ``test_<metric>`` tag train records, else the
    gate's score of a retrained challenger (on the set that decided: the newest held-out
    rows), else its validation score."""
    candidates = [(f"test_{metric}", f"test_{metric} tag")]
    if tags.get("gate_metric") == metric:
        candidates.append(("gate_challenger_score", "gate_challenger_score tag"))
    candidates.append((f"valid_{metric}", f"valid_{metric} tag"))
    for key, label in candidates:
        try:
            value = float(tags[key])
        except (KeyError, TypeError, ValueError):
            continue
        if np.isfinite(value):
            return value, label
    return None, f"the model version has no test_{metric} or valid_{metric} tag"


def _grouped(scores: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per distinct score, scores descending: (B, G) each."""
    order = np.argsort(-scores, kind="stable")
    s, yy, ww = scores[order], y[order], w[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    pos = np.add.reduceat(ww * yy, starts, axis=1)
    neg = np.add.reduceat(ww * (1 - yy), starts, axis=1)
    return pos, neg


def _weighted_auc(pos: np.ndarray, neg: np.ndarray, kind: str) -> np.ndarray:
    p_tot, n_tot = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "roc_auc":
            neg_below = n_tot[:, None] - np.cumsum(neg, axis=1)  # scores descending
            auc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (p_tot * n_tot)
        else:  # average precision, as sklearn: sum of precision at each recall step
            tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
            precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, _EPS), 0.0)
            auc = (precision * pos).sum(axis=1) / p_tot
    return np.where((p_tot > 0) & (n_tot > 0), auc, np.nan)


def weighted_metric(
    metric: str, y: np.ndarray, output: np.ndarray, weights: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """``metric`` under each row of ``weights`` (B, n): one bootstrap draw per row, as counts
    of each labelled row. ``output`` is the positive-class probability or the predicted value."""
    total = weights.sum(axis=1)
    if metric in ("roc_auc", "pr_auc"):
        return _weighted_auc(*_grouped(output, y, weights), metric)
    if metric == "f1":
        pred = (output > threshold).astype(float)
        tp, fp = weights @ (y * pred), weights @ ((1 - y) * pred)
        fn = weights @ (y * (1 - pred))
        return np.asarray(2 * tp / np.maximum(2 * tp + fp + fn, _EPS))
    if metric == "log_loss":
        p = np.clip(output, _EPS, 1 - _EPS)
        return np.asarray(weights @ -(y * np.log(p) + (1 - y) * np.log(1 - p)) / total)
    err = output - y
    if metric == "brier" or metric == "rmse":
        mse = weights @ err**2 / total
        return np.asarray(mse if metric == "brier" else np.sqrt(mse))
    if metric == "mae":
        return np.asarray(weights @ np.abs(err) / total)
    if metric == "r2":
        mean = weights @ y / total
        sst = (weights * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
        return np.asarray(1 - (weights @ err**2) / np.maximum(sst, _EPS))
    raise ValueError(f"unknown metric {metric!r}")


def degradation(metric: str, baseline: float, score: Any, relative: bool) -> Any:
    """How much worse ``score`` is than ``baseline`` (positive = worse), relative or absolute."""
    worse = score - baseline if metric in LOWER_IS_BETTER else baseline - score
    if relative and abs(baseline) > _EPS:
        return worse / abs(baseline)
    return worse


def window_metrics(
    y: np.ndarray, output: np.ndarray, classification: bool, threshold: float
) -> dict[str, float]:
    """The task's metrics on the window (point estimates)."""
    if classification:
        return classification_metrics(y, output, threshold)
    return regression_metrics(y, output)


def assess_performance(
    y: np.ndarray,
    output: np.ndarray,
    metric: str,
    classification: bool,
    baseline: tuple[float | None, str],
    policy: PerformancePolicyConfig,
    threshold: float = 0.5,
) -> PerformanceCheck:
    """Score the window and judge the degradation against ``baseline`` (value, source)."""
    y = np.asarray(y, dtype=float)
    output = np.asarray(output, dtype=float)
    base, source = baseline
    n = len(y)
    metrics = window_metrics(y, output, classification, threshold) if n else {}
    score = metrics.get(metric)
    kind, tol = policy.tolerance_kind, policy.tolerance

    def check(breached: bool, reason: str, deg: float | None = None,
              bound: float | None = None) -> PerformanceCheck:  # fmt: skip
        return PerformanceCheck(metric, n, base, source, score, metrics, deg, bound, tol, kind,
                                policy.confidence, breached, reason)  # fmt: skip

    if n < policy.min_labelled_rows:
        return check(False, f"{n} labelled rows < min_labelled_rows {policy.min_labelled_rows}")
    if base is None:
        return check(False, f"no test score to compare with: {source}")
    if score is None or not np.isfinite(score):
        return check(False, f"{metric} is undefined on this window (one class only?)")
    relative = kind == "relative"
    deg = float(degradation(metric, base, score, relative))
    rng = np.random.default_rng(policy.seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=policy.bootstrap_draws)
    draws = degradation(metric, base, weighted_metric(metric, y, output, weights.astype(float),
                                                      threshold), relative)  # fmt: skip
    bound = float(np.nanquantile(draws, 1.0 - policy.confidence))
    unit = "" if not relative else " (relative)"
    fmt = f"{metric} {score:.4f} on {n} labelled rows vs test {base:.4f}: degradation " \
          f"{deg:.4f}{unit}, {policy.confidence:.0%} lower bound {bound:.4f}"  # fmt: skip
    if bound > tol:
        return check(True, f"{fmt} > tolerance {tol:g}", deg, bound)
    return check(False, f"{fmt} <= tolerance {tol:g}", deg, bound)
