"""Model quality metrics and the comparison rule that picks a winner."""

from __future__ import annotations

import numpy as np

from driftloop.config.spec import LOWER_IS_BETTER


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC, PR AUC, F1 (positive above the decision threshold), log loss and Brier score
    of positive-class probabilities."""
    from sklearn import metrics as skm  # lazily: 1-4 s of import `detect` rarely needs

    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(proba, dtype=float), 1e-15, 1 - 1e-15)
    single_class = len(np.unique(y)) < 2
    return {
        "roc_auc": float("nan") if single_class else float(skm.roc_auc_score(y, p)),
        "pr_auc": float("nan") if single_class else float(skm.average_precision_score(y, p)),
        "f1": float(skm.f1_score(y, (p > threshold).astype(int), zero_division=0)),
        "log_loss": float(skm.log_loss(y, p, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y, p)),
    }


def regression_metrics(y_true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R²."""
    from sklearn import metrics as skm  # lazily: 1-4 s of import `detect` rarely needs

    y = np.asarray(y_true, dtype=float)
    p = np.asarray(pred, dtype=float)
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y, p))),
        "mae": float(skm.mean_absolute_error(y, p)),
        "r2": float(skm.r2_score(y, p)),
    }


def is_better(metric: str, candidate: float, incumbent: float, margin: float = 0.0) -> bool:
    """True when the candidate beats the incumbent by more than the margin."""
    if np.isnan(candidate):
        return False
    if np.isnan(incumbent):
        return True
    if metric in LOWER_IS_BETTER:
        return candidate < incumbent - margin
    return candidate > incumbent + margin


def best_candidate(scores: dict[str, float], metric: str) -> str:
    """Name of the best-scoring candidate (ties go to the first listed)."""
    best: str | None = None
    for name, score in scores.items():
        if best is None or is_better(metric, score, scores[best]):
            best = name
    if best is None:
        raise ValueError("no candidates to choose from")
    return best


def score_pipeline(
    pipeline: object,
    features: object,
    target: np.ndarray,
    classification: bool,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Metrics of a fitted pipeline on labelled rows (F1 at the decision threshold)."""
    if classification:
        proba = pipeline.predict_proba(features)[:, 1]  # type: ignore[attr-defined]
        return classification_metrics(target, proba, threshold)
    return regression_metrics(target, pipeline.predict(features))  # type: ignore[attr-defined]
