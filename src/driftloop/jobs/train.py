"""``driftloop train``: fit every candidate, track each in MLflow, register the best, and
promote it through the gate (``jobs.promote``), the same one a retrain passes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import DatasetVersion, open_dataset
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.spec import CandidateConfig, DatasetSpec
from driftloop.core.candidates import build_pipeline
from driftloop.core.estimate import ESTIMATOR_ARTIFACT, fit_estimator
from driftloop.core.gate import GateDecision
from driftloop.core.metrics import best_candidate, score_pipeline
from driftloop.core.prepare import features_and_target
from driftloop.core.threshold import THRESHOLD_TAG, fit_threshold
from driftloop.jobs.champion import registry_champion
from driftloop.jobs.progress import ProgressCallback, Step, no_progress
from driftloop.jobs.promote import (
    apply_promotion,
    gate_challenger,
    record_decision,
    score_version,
)


@dataclass
class CandidateResult:
    """One trained candidate."""

    name: str
    kind: str
    run_id: str
    metrics: dict[str, float]
    model_uri: str
    seconds: float
    threshold: float = 0.5
    """Decision threshold chosen on the validation split (binary classification)."""


@dataclass
class TrainResult:
    """What a training run produced."""

    parent_run_id: str
    dataset_version: str
    candidates: list[CandidateResult]
    best: str
    registered: ModelVersionInfo
    comparison: dict[str, Any] = field(default_factory=dict)
    promoted: bool = False
    gate: GateDecision | None = None


@dataclass(frozen=True)
class FitResult:
    """What one fit of every candidate produced: the parent run and the registered best."""

    parent_run_id: str
    candidates: list[CandidateResult]
    best: CandidateResult
    registered: ModelVersionInfo


@dataclass(frozen=True)
class _FitData:
    """The training frame, and features and target of the training and validation rows."""

    train: pd.DataFrame
    x_train: pd.DataFrame
    y_train: Any
    x_valid: pd.DataFrame
    y_valid: Any


def _fit_one(
    spec: DatasetSpec,
    tracker: Tracker,
    ds: DatasetVersion,
    cand: CandidateConfig,
    data: _FitData,
    tags: dict[str, str],
    sample_weight: Any,
) -> CandidateResult:
    """Fit, score and log one candidate as a nested run."""
    x_train, y_train, x_valid, y_valid = data.x_train, data.y_train, data.x_valid, data.y_valid
    started = time.perf_counter()
    with tracker.run(cand.name, tags={**tags, "candidate": cand.name}, nested=True) as run_id:
        pipeline = build_pipeline(spec, cand)
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        pipeline.fit(x_train, y_train, **fit_params)
        cut = fit_threshold(
            pipeline, x_valid, y_valid, spec.threshold if spec.is_classification else None
        )
        metrics = score_pipeline(pipeline, x_valid, y_valid, spec.is_classification, cut.value)
        tracker.log_params({"kind": cand.kind, **cand.params})
        if spec.is_classification:
            tracker.log_params({THRESHOLD_TAG: f"{cut.value:.6f}", "threshold_rule": cut.rule})
        tracker.log_metrics({f"valid_{k}": v for k, v in metrics.items()})
        tracker.log_dataset_input(data.train, ds.version, ds.store.uri(ds.key("")), "training")
        uri = tracker.log_pipeline(pipeline, x_train, spec.is_classification)
        tracker.log_dict(_estimator(pipeline, x_valid, y_valid, spec).to_dict(), ESTIMATOR_ARTIFACT)
    return CandidateResult(
        cand.name, cand.kind, run_id, metrics, uri, time.perf_counter() - started, cut.value
    )


def _estimator(pipeline: Any, x_valid: Any, y_valid: Any, spec: DatasetSpec) -> Any:
    """What estimates the model's metrics without labels, fitted on its validation outputs:
    calibrated probabilities (classification) or a model of its error (regression)."""
    if spec.is_classification:
        output = pipeline.predict_proba(x_valid)[:, 1]
    else:
        output = pipeline.predict(x_valid)
    return fit_estimator(output, y_valid, spec.is_classification)


def _register_best(
    spec: DatasetSpec,
    tracker: Tracker,
    results: list[CandidateResult],
    parent_id: str,
    tags: dict[str, str],
) -> tuple[CandidateResult, ModelVersionInfo]:
    scores = {r.name: r.metrics[spec.metric] for r in results}
    best_name = best_candidate(scores, spec.metric)
    best = next(r for r in results if r.name == best_name)
    tracker.set_tags({"best_candidate": best_name, f"best_valid_{spec.metric}": scores[best_name]})
    registered = tracker.register(
        best.model_uri,
        best.run_id,
        tags={
            **tags,
            "candidate": best.name,
            "kind": best.kind,
            "parent_run_id": parent_id,
            **{f"valid_{k}": f"{v:.6f}" for k, v in best.metrics.items()},
            **({THRESHOLD_TAG: f"{best.threshold:.6f}"} if spec.is_classification else {}),
        },
    )
    return best, registered


def fit_candidates(
    spec: DatasetSpec,
    tracker: Tracker,
    ds: DatasetVersion,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    run_name: str,
    tags: dict[str, str] | None = None,
    progress: ProgressCallback = no_progress,
    sample_weight: Any = None,
) -> FitResult:
    """Train each candidate as a nested run under one parent; register the best by the metric.
    ``progress`` is told each candidate's step as it starts and ends."""
    x_train, y_train = features_and_target(train, spec)
    x_valid, y_valid = features_and_target(valid if len(valid) else train, spec)
    data = _FitData(train, x_train, y_train, x_valid, y_valid)
    base_tags = {"dataset_version": ds.version, "dataset": spec.name, **(tags or {})}
    results: list[CandidateResult] = []
    with tracker.run(run_name, tags={**base_tags, "role": "training"}) as parent_id:
        tracker.log_params(
            {"dataset_version": ds.version, "metric": spec.metric, "rows_train": len(train)}
        )
        tracker.log_dataset_input(train, ds.version, ds.store.uri(ds.key("")), "training")
        steps = [Step(cand.name) for cand in spec.candidates]
        for step, cand in zip(steps, spec.candidates, strict=True):
            step.status = "running"
            progress(steps)
            results.append(_fit_one(spec, tracker, ds, cand, data, base_tags, sample_weight))
            step.status, step.seconds = "done", results[-1].seconds
            progress(steps)
        best, registered = _register_best(spec, tracker, results, parent_id, base_tags)
    return FitResult(parent_id, results, best, registered)


def _comparison(decision: GateDecision, ds_version: str) -> dict[str, Any]:
    """The gate decision in the shape ``train`` reports it."""
    return {
        "metric": decision.metric,
        "evaluation": f"test split of dataset {ds_version}",
        "new_version": decision.challenger_version,
        "new_score": decision.challenger_score,
        "champion_version": decision.champion_version,
        "champion_score": decision.champion_score,
        "reason": decision.reason,
        "promoted": decision.promote,
    }


def train_models(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    dataset: str | None = None,
    progress: ProgressCallback = no_progress,
) -> TrainResult:
    """Train on a dataset version; the best becomes champion if it passes the gate
    (the same gate as retrain, both models scored on the test split)."""
    ds = open_dataset(store, dataset)
    train, valid, test = ds.frame("train"), ds.frame("valid"), ds.frame("test")
    fit = fit_candidates(
        spec, tracker, ds, train, valid, run_name=f"train-{ds.version}", progress=progress
    )
    version = fit.registered.version
    test_scores = score_version(spec, tracker, version, test)
    champion = registry_champion(tracker, store, "train")
    decision = gate_challenger(spec, tracker, version, champion, test)
    record_decision(
        tracker,
        decision,
        fit.parent_run_id,
        {f"test_{k}": f"{v:.6f}" for k, v in test_scores.items()}
        | {
            "promotion": "champion" if decision.promote else "not promoted",
            "promotion_reason": decision.reason,
        },  # fmt: skip
    )
    if decision.promote:
        apply_promotion(tracker, store, decision, ds.version)
    comparison = _comparison(decision, ds.version)
    tracker.set_tags({f"comparison_{k}": v for k, v in comparison.items()},
                     run_id=fit.parent_run_id)  # fmt: skip
    return TrainResult(fit.parent_run_id, ds.version, fit.candidates, fit.best.name,
                       fit.registered, comparison, decision.promote, decision)  # fmt: skip
