"""Estimated performance without labels: what the serving model is likely scoring on a window
whose labels have not arrived (or never will).

Classification (confidence-based estimation, the idea NannyML calls CBPE): at training time
the model's validation probabilities are calibrated with isotonic regression, so a calibrated
probability ``c`` is the chance that the row is positive. On an unlabelled window, each row
then counts as ``c`` of a positive and ``1 - c`` of a negative, which gives the expected
confusion matrix at the model's threshold (accuracy, precision, recall, F1) and the expected
ROC curve (expected true and false positives above each score), hence an expected ROC AUC.
This holds while the relation between features and target stays as on validation: it sees
covariate shift, not concept drift (for that, labels are needed).

Regression (the idea NannyML calls DLE, direct loss estimation, in a small form): the
absolute and squared validation errors are averaged per band of predicted value (quantile
bins), and a window's expected MAE and RMSE are those averages at its predictions.

Both estimators are a few numbers, stored as JSON with the model. Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from driftloop.config.spec import PerformancePolicyConfig
from driftloop.core.performance import degradation
from driftloop.core.policy import ESTIMATED_PERFORMANCE, SignalVerdict

ESTIMATOR_ARTIFACT = "performance_estimator.json"
"""File name of the estimator in the model's MLflow run."""
CLASSIFICATION_ESTIMATES = ("roc_auc", "accuracy", "f1", "precision", "recall", "brier",
                            "log_loss")  # fmt: skip
REGRESSION_ESTIMATES = ("mae", "rmse")
ERROR_BINS = 10
_EPS = 1e-12


@dataclass(frozen=True)
class ProbabilityCalibrator:
    """A monotone map from model probability to calibrated probability (isotonic fit),
    stored as its breakpoints and applied by linear interpolation (clipped at the ends)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return np.interp(np.asarray(proba, dtype=float), self.x, self.y)


@dataclass(frozen=True)
class ErrorModel:
    """Mean absolute and squared validation error per band of predicted value."""

    edges: tuple[float, ...]
    """Inner bin edges (``len(mae) - 1`` of them), ascending."""
    mae: tuple[float, ...]
    mse: tuple[float, ...]

    def expected(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected absolute and squared error of each prediction."""
        bins = np.searchsorted(np.asarray(self.edges), np.asarray(pred, dtype=float), "right")
        return np.asarray(self.mae)[bins], np.asarray(self.mse)[bins]


@dataclass(frozen=True)
class PerformanceEstimator:
    """What estimates a model's metrics on unlabelled rows; JSON via ``to_dict``."""

    kind: Literal["cbpe", "dle"]
    calibrator: ProbabilityCalibrator | None = None
    error_model: ErrorModel | None = None
    fitted_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what the model's run stores)."""
        out: dict[str, Any] = {"kind": self.kind, "fitted_rows": self.fitted_rows}
        if self.calibrator is not None:
            out["calibrator"] = {"method": "isotonic", "x": list(self.calibrator.x),
                                 "y": list(self.calibrator.y)}  # fmt: skip
        if self.error_model is not None:
            em = self.error_model
            out["error_model"] = {"edges": list(em.edges), "mae": list(em.mae),
                                  "mse": list(em.mse)}  # fmt: skip
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceEstimator:
        """The estimator a ``to_dict`` wrote; ValueError when it is not one."""
        kind = data.get("kind")
        if kind == "cbpe":
            cal = data["calibrator"]
            calibrator = ProbabilityCalibrator(_floats(cal["x"]), _floats(cal["y"]))
            if len(calibrator.x) != len(calibrator.y) or not calibrator.x:
                raise ValueError("calibrator breakpoints do not match")
            return cls("cbpe", calibrator=calibrator, fitted_rows=int(data.get("fitted_rows", 0)))
        if kind == "dle":
            em = data["error_model"]
            model = ErrorModel(_floats(em["edges"]), _floats(em["mae"]), _floats(em["mse"]))
            if not (len(model.mae) == len(model.mse) == len(model.edges) + 1):
                raise ValueError("error model bins do not match")
            return cls("dle", error_model=model, fitted_rows=int(data.get("fitted_rows", 0)))
        raise ValueError(f"unknown performance estimator kind {kind!r}")


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def fit_calibrator(proba: np.ndarray, y: np.ndarray) -> ProbabilityCalibrator:
    """Isotonic calibration of positive-class probabilities on labelled (validation) rows."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(np.asarray(proba, dtype=float), np.asarray(y, dtype=float))
    return ProbabilityCalibrator(_floats(iso.X_thresholds_), _floats(iso.y_thresholds_))


def fit_error_model(pred: np.ndarray, y: np.ndarray, bins: int = ERROR_BINS) -> ErrorModel:
    """Mean absolute and squared error of ``pred`` per quantile band of ``pred``."""
    pred = np.asarray(pred, dtype=float)
    err = np.asarray(y, dtype=float) - pred
    inner = np.linspace(0, 1, bins + 1)[1:-1]
    edges: np.ndarray = np.unique(np.quantile(pred, inner)) if len(pred) else np.empty(0)
    idx = np.searchsorted(edges, pred, "right")
    overall = (float(np.mean(np.abs(err))), float(np.mean(err**2))) if len(err) else (0.0, 0.0)
    mae, mse = [], []
    for b in range(len(edges) + 1):
        e = err[idx == b]
        mae.append(float(np.mean(np.abs(e))) if len(e) else overall[0])
        mse.append(float(np.mean(e**2)) if len(e) else overall[1])
    return ErrorModel(_floats(edges.tolist()), tuple(mae), tuple(mse))


def fit_estimator(output: np.ndarray, y: np.ndarray, classification: bool) -> PerformanceEstimator:
    """The estimator for a model from its validation outputs (probabilities or values)."""
    n = len(np.asarray(y))
    if classification:
        return PerformanceEstimator("cbpe", calibrator=fit_calibrator(output, y), fitted_rows=n)
    return PerformanceEstimator("dle", error_model=fit_error_model(output, y), fitted_rows=n)


def _expected_auc(scores: np.ndarray, c: np.ndarray) -> float:
    """ROC AUC expected when row i is positive with probability c[i] (ties share credit)."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], c[order]
    neg = 1.0 - pos
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    gp, gn = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    p_tot, n_tot = gp.sum(), gn.sum()
    if p_tot < _EPS or n_tot < _EPS:
        return float("nan")
    neg_below = n_tot - np.cumsum(gn)
    return float((gp * (neg_below + 0.5 * gn)).sum() / (p_tot * n_tot))


def _probability_losses(p: np.ndarray, c: np.ndarray) -> dict[str, float]:
    """Brier score and log loss of probabilities ``p`` when row i is positive with chance c[i]."""
    q = np.clip(p, 1e-15, 1 - 1e-15)
    brier = c * (1 - p) ** 2 + (1 - c) * p**2
    loss = -(c * np.log(q) + (1 - c) * np.log(1 - q))
    return {"brier": float(brier.mean()), "log_loss": float(loss.mean())}


def _confusion_metrics(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n if n else float("nan"),
        "f1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > _EPS else 0.0,
        "precision": tp / (tp + fp) if (tp + fp) > _EPS else 0.0,
        "recall": tp / (tp + fn) if (tp + fn) > _EPS else 0.0,
    }


def estimate_metrics(
    estimator: PerformanceEstimator, output: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Expected metrics on unlabelled rows from the model's outputs (positive-class
    probabilities at the decision ``threshold``, or predicted values)."""
    out = np.asarray(output, dtype=float)
    out = out[np.isfinite(out)]
    if not len(out):
        return {}
    if estimator.kind == "dle":
        assert estimator.error_model is not None
        abs_err, sq_err = estimator.error_model.expected(out)
        return {"mae": float(abs_err.mean()), "rmse": float(np.sqrt(sq_err.mean()))}
    assert estimator.calibrator is not None
    c = estimator.calibrator.apply(out)
    above = out > threshold
    tp, fp = float(c[above].sum()), float((1 - c[above]).sum())
    fn, tn = float(c[~above].sum()), float((1 - c[~above]).sum())
    return {"roc_auc": _expected_auc(out, c), **_confusion_metrics(tp, fp, fn, tn),
            **_probability_losses(out, c)}  # fmt: skip


def realised_metrics(
    y: np.ndarray, output: np.ndarray, classification: bool, threshold: float = 0.5
) -> dict[str, float]:
    """The same metrics as ``estimate_metrics``, from labels: what the estimate is checked by."""
    y = np.asarray(y, dtype=float)
    out = np.asarray(output, dtype=float)
    if not len(y):
        return {}
    if not classification:
        err = y - out
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}
    auc = _expected_auc(out, y) if 0 < y.sum() < len(y) else float("nan")
    above = out > threshold
    tp, fp = float(y[above].sum()), float((1 - y[above]).sum())
    fn, tn = float(y[~above].sum()), float((1 - y[~above]).sum())
    return {"roc_auc": auc, **_confusion_metrics(tp, fp, fn, tn), **_probability_losses(out, y)}


def estimated_verdict(
    estimated: Mapping[str, float],
    metric: str,
    baseline: tuple[float | None, str],
    policy: PerformancePolicyConfig,
    rows: int,
) -> SignalVerdict:
    """The ``estimated_performance`` signal: the estimated ``metric`` is worse than the test
    score (``baseline``: value, source) by more than the performance tolerance, on a window of
    at least ``min_labelled_rows`` rows. A trigger only with ``performance.use_estimated``."""
    base, source = baseline
    value = estimated.get(metric)
    details: dict[str, Any] = {"metric": metric, "estimated": value, "baseline": base,
                               "baseline_source": source, "rows": rows,
                               "tolerance": policy.tolerance,
                               "tolerance_kind": policy.tolerance_kind}  # fmt: skip

    def verdict(fired: bool, reason: str) -> SignalVerdict:
        return SignalVerdict(ESTIMATED_PERFORMANCE, fired, policy.use_estimated, reason, details)

    if value is None or not np.isfinite(value):
        return verdict(False, f"{metric} is not estimated for this model")
    if rows < policy.min_labelled_rows:
        return verdict(False, f"{rows} rows < min_labelled_rows {policy.min_labelled_rows}")
    if base is None:
        return verdict(False, f"no test score to compare with: {source}")
    deg = float(degradation(metric, base, value, policy.tolerance_kind == "relative"))
    details["degradation"] = deg
    unit = " (relative)" if policy.tolerance_kind == "relative" else ""
    text = f"estimated {metric} {value:.4f} on {rows} rows vs test {base:.4f}: degradation " \
           f"{deg:.4f}{unit}"  # fmt: skip
    if deg > policy.tolerance:
        return verdict(True, f"{text} > tolerance {policy.tolerance:g}")
    return verdict(False, f"{text} <= tolerance {policy.tolerance:g}")
