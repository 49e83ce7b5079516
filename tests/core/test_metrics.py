from __future__ import annotations

import numpy as np

from driftloop.core.metrics import best_candidate, classification_metrics, is_better


def test_metric_direction():
    assert is_better("roc_auc", 0.9, 0.8)
    assert not is_better("roc_auc", 0.8, 0.8)
    assert not is_better("roc_auc", 0.81, 0.8, margin=0.02)
    assert is_better("log_loss", 0.3, 0.4)
    assert not is_better("rmse", 2.0, 1.0)
    assert is_better("roc_auc", 0.5, float("nan"))


def test_best_candidate_respects_direction():
    assert best_candidate({"a": 0.7, "b": 0.9, "c": 0.8}, "roc_auc") == "b"
    assert best_candidate({"a": 0.7, "b": 0.9, "c": 0.2}, "brier") == "c"


def test_perfect_classifier_metrics():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["roc_auc"] == 1.0 and m["f1"] == 1.0 and m["brier"] < 0.05
