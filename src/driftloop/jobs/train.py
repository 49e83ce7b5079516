"""``driftloop train``: fit every candidate, track each in MLflow, register the best."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import DatasetVersion, open_dataset
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.spec import DatasetSpec
from driftloop.core.candidates import build_pipeline
from driftloop.core.metrics import best_candidate, is_better, score_pipeline
from driftloop.core.prepare import features_and_target
from driftloop.core.threshold import THRESHOLD_TAG, fit_threshold, threshold_from_tags
from driftloop.jobs.progress import ProgressCallback, Step, no_progress


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
) -> tuple[str, list[CandidateResult], CandidateResult, ModelVersionInfo]:
    """Train each candidate as a nested run under one parent; register the best by the metric.
    ``progress`` is told each candidate's step as it starts and ends."""
    x_train, y_train = features_and_target(train, spec)
    x_valid, y_valid = features_and_target(valid if len(valid) else train, spec)
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
            started = time.perf_counter()
            with tracker.run(
                cand.name, tags={**base_tags, "candidate": cand.name}, nested=True
            ) as run_id:
                pipeline = build_pipeline(spec, cand)
                fit_params = (
                    {} if sample_weight is None else {"model__sample_weight": sample_weight}
                )
                pipeline.fit(x_train, y_train, **fit_params)
                rule = spec.threshold if spec.is_classification else None
                cut = fit_threshold(pipeline, x_valid, y_valid, rule)
                metrics = score_pipeline(
                    pipeline, x_valid, y_valid, spec.is_classification, cut.value
                )
                tracker.log_params({"kind": cand.kind, **cand.params})
                if spec.is_classification:
                    tracker.log_params(
                        {THRESHOLD_TAG: f"{cut.value:.6f}", "threshold_rule": cut.rule}
                    )
                tracker.log_metrics({f"valid_{k}": v for k, v in metrics.items()})
                tracker.log_dataset_input(train, ds.version, ds.store.uri(ds.key("")), "training")
                uri = tracker.log_pipeline(pipeline, x_train, spec.is_classification)
            results.append(
                CandidateResult(
                    cand.name,
                    cand.kind,
                    run_id,
                    metrics,
                    uri,
                    time.perf_counter() - started,
                    cut.value,
                )  # fmt: skip
            )
            step.status, step.seconds = "done", results[-1].seconds
            progress(steps)
        scores = {r.name: r.metrics[spec.metric] for r in results}
        best_name = best_candidate(scores, spec.metric)
        best = next(r for r in results if r.name == best_name)
        tracker.set_tags(
            {"best_candidate": best_name, f"best_valid_{spec.metric}": scores[best_name]}
        )
        registered = tracker.register(
            best.model_uri,
            best.run_id,
            tags={
                **base_tags,
                "candidate": best.name,
                "kind": best.kind,
                "parent_run_id": parent_id,
                **{f"valid_{k}": f"{v:.6f}" for k, v in best.metrics.items()},
                **({THRESHOLD_TAG: f"{best.threshold:.6f}"} if spec.is_classification else {}),
            },
        )
    return parent_id, results, best, registered


def train_models(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    dataset: str | None = None,
    progress: ProgressCallback = no_progress,
) -> TrainResult:
    """Train on a dataset version; the best becomes champion if it beats the current one."""
    ds = open_dataset(store, dataset)
    train, valid, test = ds.frame("train"), ds.frame("valid"), ds.frame("test")
    parent_id, results, best, registered = fit_candidates(
        spec, tracker, ds, train, valid, run_name=f"train-{ds.version}", progress=progress
    )
    x_test, y_test = features_and_target(test, spec)
    new_pipeline = tracker.load_pipeline(registered.version)
    new_score = score_pipeline(
        new_pipeline, x_test, y_test, spec.is_classification, threshold_from_tags(registered.tags)
    )
    champion = tracker.alias_version("champion")
    comparison: dict[str, Any] = {
        "metric": spec.metric,
        "evaluation": f"test split of dataset {ds.version}",
        "new_version": registered.version,
        "new_score": new_score[spec.metric],
    }
    if champion is None:
        promoted = True
        comparison.update(champion_version=None, champion_score=None, reason="no champion yet")
    else:
        old_pipeline = tracker.load_pipeline(champion.version)
        old_score = score_pipeline(old_pipeline, x_test, y_test, spec.is_classification)
        promoted = is_better(spec.metric, new_score[spec.metric], old_score[spec.metric])
        comparison.update(
            champion_version=champion.version,
            champion_score=old_score[spec.metric],
            reason="beats the champion on the test split"
            if promoted
            else "does not beat the champion on the test split",
        )
    comparison["promoted"] = promoted
    if promoted:
        tracker.set_alias("champion", registered.version)
    tracker.set_version_tags(
        registered.version,
        {f"test_{k}": f"{v:.6f}" for k, v in new_score.items()}
        | {
            "promotion": "champion" if promoted else "not promoted",
            "promotion_reason": comparison["reason"],
        },
    )
    tracker.set_tags({f"comparison_{k}": v for k, v in comparison.items()}, run_id=parent_id)
    return TrainResult(parent_id, ds.version, results, best.name, registered, comparison, promoted)
