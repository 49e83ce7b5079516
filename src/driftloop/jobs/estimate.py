"""Estimated next to realised performance of the serving model on one checked window.

The estimator (``core.estimate``) was fitted on the model's validation outputs at training
time and stored in its MLflow run (copied into the store's drift cache the first time a
check needs it, so later checks do not open MLflow); the window's logged outputs give the
estimate, and the window's rows that have labels (``/feedback``) give the realised metrics
on the same rows, so each report shows how far the estimate was off.
``detect`` calls this on every check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters import drift_cache
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo
from driftloop.config.spec import DatasetSpec
from driftloop.core.estimate import (
    ESTIMATOR_ARTIFACT,
    PerformanceEstimator,
    estimate_metrics,
    estimated_verdict,
    realised_metrics,
)
from driftloop.core.loop_facts import clean_float
from driftloop.core.performance import baseline_score
from driftloop.core.policy import SignalVerdict
from driftloop.core.retraining import join_feedback
from driftloop.core.threshold import threshold_from_tags
from driftloop.jobs.champion import TrackerSource, tracker_of


@dataclass(frozen=True)
class WindowEstimate:
    """The serving model's estimated (and, where labelled, realised) metrics on a window."""

    method: str
    rows: int
    threshold: float | None
    estimated: dict[str, float]
    labelled_rows: int
    realised: dict[str, float]
    verdict: SignalVerdict

    def to_dict(self, metric: str) -> dict[str, Any]:
        """JSON-ready: the figures, and the estimate's error on the spec metric."""
        est, real = self.estimated.get(metric), self.realised.get(metric)
        error = None if est is None or real is None else clean_float(est - real)
        return {
            "metric": metric, "method": self.method, "rows": self.rows,
            "threshold": self.threshold,
            "estimated": {k: clean_float(v) for k, v in self.estimated.items()},
            "labelled_rows": self.labelled_rows,
            "realised": {k: clean_float(v) for k, v in self.realised.items()},
            "error": error, "fired": self.verdict.fired, "trigger": self.verdict.trigger,
            "reason": self.verdict.reason,
        }  # fmt: skip


def load_estimator(
    store: ObjectStore, tracker: TrackerSource, champion: ModelVersionInfo
) -> PerformanceEstimator | None:
    """The estimator stored with a model version's run (None for models trained without one),
    from the drift cache once a check has copied it there. A run without one is asked again
    each time (the tracker cannot tell "none" from "not reachable", and a cached "none" would
    switch the signal off for good)."""
    if not champion.run_id:
        return None
    key = drift_cache.estimator_key(champion.run_id)
    data = drift_cache.read_entry(store, key)
    if data is None:
        data = tracker_of(tracker).load_run_dict(champion.run_id, ESTIMATOR_ARTIFACT)
        if data is None:
            return None
        drift_cache.write_entry(store, key, data)
    try:
        return PerformanceEstimator.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _labelled_outputs(
    store: ObjectStore, spec: DatasetSpec, window: pd.DataFrame, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and logged outputs of the window's rows that have feedback."""
    from driftloop.adapters.production_data import log_times, read_feedback

    since: datetime | None = None
    if "ts" in window.columns and len(window):
        since = log_times(window["ts"]).min().to_pydatetime()
    labelled = join_feedback(window, read_feedback(store, since=since), spec)
    if labelled.empty:
        return np.empty(0), np.empty(0)
    outputs = window[["request_id", column]].drop_duplicates("request_id", keep="last")
    rows = labelled.merge(outputs, on="request_id", how="inner")
    out = pd.to_numeric(rows[column], errors="coerce")
    keep = out.notna().to_numpy()
    return rows[spec.target].to_numpy(dtype=float)[keep], out.to_numpy(dtype=float)[keep]


def estimate_window(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
    champion: ModelVersionInfo | None,
    window: pd.DataFrame,
) -> WindowEstimate | None:
    """Estimated and realised metrics of the serving model on ``window`` (logged rows with
    its outputs); None when there is no champion, no stored estimator or no outputs."""
    column = "probability" if spec.is_classification else "prediction"
    if champion is None or window.empty or column not in window.columns:
        return None
    estimator = load_estimator(store, tracker, champion)
    if estimator is None:
        return None
    output = pd.to_numeric(window[column], errors="coerce").to_numpy(dtype=float)
    threshold = threshold_from_tags(champion.tags) if spec.is_classification else None
    estimated = estimate_metrics(estimator, output, threshold or 0.5)
    y, labelled = _labelled_outputs(store, spec, window, column)
    realised = realised_metrics(y, labelled, spec.is_classification, threshold or 0.5)
    policy = spec.drift.performance
    verdict = estimated_verdict(estimated, spec.metric, baseline_score(champion.tags, spec.metric),
                                policy, int(np.isfinite(output).sum()))  # fmt: skip
    return WindowEstimate(estimator.kind, len(window), threshold, estimated, len(y), realised,
                          verdict)  # fmt: skip
