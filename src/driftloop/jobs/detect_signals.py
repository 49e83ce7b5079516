"""The signals a drift check computes beside feature drift, wired to the store and registry:
calibrated per-feature thresholds (cached), prediction drift (the model's output on the window
against its output on the reference) and realised performance on labelled production rows.

``detect`` calls these; the pure rules live in ``core.null_thresholds``, ``core.performance``
and ``core.policy``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters import drift_cache
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo
from driftloop.config.spec import DatasetSpec, DriftPolicyConfig
from driftloop.core.drift_confirm import ConfirmSettings
from driftloop.core.drift_reference import compute_drift
from driftloop.core.drift_verdict import FeatureDrift
from driftloop.core.null_thresholds import (
    NULL_METHOD,
    TAIL_QUANTILE,
    CalibrationSettings,
    NullThreshold,
    calibrate_thresholds,
    round_window,
)
from driftloop.core.performance import PerformanceCheck, assess_performance, baseline_score
from driftloop.core.policy import PREDICTION_DRIFT, SignalVerdict
from driftloop.core.threshold import threshold_from_tags
from driftloop.jobs.champion import TrackerSource, tracker_of

log = logging.getLogger("driftloop.detect")
PREDICTION = "prediction"
"""The name prediction drift is reported under."""


def output_column(spec: DatasetSpec) -> str:
    """The inference-log column holding the model's output: the positive-class probability
    (classification) or the predicted value (regression)."""
    return "probability" if spec.is_classification else "prediction"


def _calibration_settings(policy: DriftPolicyConfig) -> CalibrationSettings:
    return CalibrationSettings(policy.alpha, policy.min_effect, policy.null_draws,
                               policy.min_category_rows)  # fmt: skip


def confirm_settings(policy: DriftPolicyConfig) -> ConfirmSettings:
    """The screen and exact-test knobs of a calibrated check."""
    return ConfirmSettings(policy.alpha, policy.retrain_alpha, policy.min_effect)


def calibrated_thresholds(
    store: ObjectStore,
    policy: DriftPolicyConfig,
    reference: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    window_rows: int,
) -> dict[str, NullThreshold]:
    """Each feature's calibrated threshold at (the rounded) ``window_rows``, from the cache
    when this reference, size and settings were calibrated before."""
    cal = _calibration_settings(policy)
    rows = round_window(window_rows)
    ref_id = drift_cache.reference_id(reference[[*numeric, *categorical]])
    key = drift_cache.thresholds_key(
        ref_id,
        rows,
        {
            **cal.__dict__,
            "numeric": numeric,
            "categorical": categorical,
            "tail": TAIL_QUANTILE,
            "null": NULL_METHOD,
        },
    )
    cached = drift_cache.read_entry(store, key)
    if cached is not None:
        return {name: NullThreshold(**item) for name, item in cached.items()}
    found = calibrate_thresholds(reference, numeric, categorical, rows, cal)
    drift_cache.write_entry(store, key, {k: v.to_dict() for k, v in found.items()})
    log.info("calibrated drift thresholds", extra={"window_rows": rows, "cache_key": key})
    return found


def as_calibration(thresholds: dict[str, NullThreshold]) -> dict[str, tuple[str, float]]:
    """Thresholds in the shape ``compute_drift(calibrated=...)`` takes."""
    return {k: (v.method, v.threshold) for k, v in thresholds.items()}


def _reference_outputs(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
    version: str,
    reference: pd.DataFrame,
) -> np.ndarray:
    """The model's output on the reference rows: scored once per model version and reference
    (the only time a check loads the model), then read from the cache."""
    key = drift_cache.outputs_key(drift_cache.reference_id(reference[list(spec.features)]), version)
    cached = drift_cache.read_outputs(store, key)
    if cached is not None and len(cached) == len(reference):
        return cached
    pipeline = tracker_of(tracker).load_pipeline(version)
    x = reference[list(spec.features)]
    out = pipeline.predict_proba(x)[:, 1] if spec.is_classification else pipeline.predict(x)
    outputs = np.asarray(out, dtype=np.float64)
    drift_cache.write_outputs(store, key, outputs)
    return outputs


@dataclass(frozen=True)
class PredictionDrift:
    """The prediction-drift verdict and the figure the report shows."""

    drift: FeatureDrift
    verdict: SignalVerdict


def prediction_drift(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: TrackerSource,
    champion: ModelVersionInfo,
    reference: pd.DataFrame,
    current: pd.DataFrame,
) -> PredictionDrift | None:
    """The model's output on the window against its output on the reference (None when the
    window carries no output column, e.g. a ``--current-data-path`` file)."""
    policy = spec.drift
    column = output_column(spec)
    if not policy.prediction.enabled or column not in current.columns:
        return None
    ref_frame = pd.DataFrame(
        {PREDICTION: _reference_outputs(spec, store, tracker, champion.version, reference)}
    )
    cur_frame = pd.DataFrame({PREDICTION: pd.to_numeric(current[column], errors="coerce")})
    calibrated = None
    if policy.mode == "calibrated":
        found = calibrated_thresholds(store, policy, ref_frame, (PREDICTION,), (), len(cur_frame))
        calibrated = as_calibration(found)
    summary = compute_drift(ref_frame, cur_frame, [PREDICTION], [], policy.threshold, calibrated)
    drift = summary.features[0]
    score = "n/a" if drift.score is None else f"{drift.score:.4f}"
    cmp = ">=" if drift.drifted else "<"
    reason = f"model output ({column}) distance {score} {cmp} {drift.threshold:.4f} ({drift.mode})"
    verdict = SignalVerdict(PREDICTION_DRIFT, drift.drifted, policy.prediction.trigger, reason,
                            drift.to_dict())  # fmt: skip
    return PredictionDrift(drift, verdict)


def labelled_window(
    spec: DatasetSpec, store: ObjectStore, model_version: str, rows: int
) -> pd.DataFrame:
    """The newest ``rows`` logged rows served by ``model_version`` that have a label."""
    from driftloop.adapters.production_data import (
        has_feedback,
        log_times,
        read_feedback,
        read_inference_log,
    )
    from driftloop.core.retraining import join_feedback

    # Labels arrive for a subset of requests: look back over 20 windows' worth of the log
    # (none of it when no label was ever stored: a check of unlabelled traffic reads it once).
    log_rows = (
        read_inference_log(store, limit_rows=rows * 20, model_version=model_version)
        if has_feedback(store)
        else pd.DataFrame(columns=["request_id", "ts", "model_version", "source"])
    )
    # labels arrive after their predictions: read only the feedback days the rows reach
    since = log_times(log_rows["ts"]).min() if len(log_rows) else None
    feedback = read_feedback(store, since=None if since is None else since.to_pydatetime())
    labelled = join_feedback(log_rows, feedback, spec, keep=[output_column(spec)])
    return labelled.tail(rows).reset_index(drop=True)


def check_performance(
    spec: DatasetSpec, store: ObjectStore, champion: ModelVersionInfo
) -> PerformanceCheck | None:
    """The serving model's realised metrics on its newest labelled window, judged against its
    own test-split score (None when the signal is off)."""
    policy = spec.drift.performance
    if not policy.enabled:
        return None
    labelled = labelled_window(spec, store, champion.version, policy.window_rows)
    column = output_column(spec)
    output = (
        pd.to_numeric(labelled[column], errors="coerce")
        if column in labelled.columns
        else pd.Series(np.nan, index=labelled.index)
    )
    ok = output.notna().to_numpy()
    return assess_performance(
        labelled[spec.target].to_numpy(dtype=np.float64)[ok],
        output.to_numpy(dtype=np.float64)[ok],
        spec.metric,
        spec.is_classification,
        baseline_score(champion.tags, spec.metric),
        policy,
        threshold_from_tags(champion.tags),
    )


def signal_payload(
    performance: PerformanceCheck | None, prediction: PredictionDrift | None
) -> dict[str, Any]:
    """The report's top-level entries for the extra signals."""
    return {
        "performance": performance.to_dict() if performance else None,
        "prediction_drift": prediction.drift.to_dict() if prediction else None,
    }
