"""``driftloop retrain`` and ``driftloop promote``: train a challenger on old + labelled
production data, gate it against the champion on the same evaluation data, promote.

Only one retrain runs at a time (a lease in the store). Everything is recorded: MLflow tags
on the run and the model version, the event's record under ``events/``, a
``retrains/<id>.json`` in the store and ``retrain-result.json`` in the model dir (which the
workflow's later steps read).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import (
    DatasetVersion,
    open_dataset,
    read_frame_at,
    set_latest,
    write_dataset,
)
from driftloop.adapters.event_records import record_event
from driftloop.adapters.lease import acquire_lease
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker
from driftloop.config.errors import DriftloopError, InputError, NotFoundError
from driftloop.config.spec import DatasetSpec
from driftloop.core.gate import GateDecision, decide_promotion
from driftloop.core.metrics import score_pipeline
from driftloop.core.prepare import features_and_target
from driftloop.core.retraining import holdout_mask, join_feedback, normalise_labelled, training_set
from driftloop.jobs.progress import ProgressCallback, no_progress

log = logging.getLogger("driftloop.retrain")
RESULT_FILE = "retrain-result.json"


@dataclass
class RetrainResult:
    """What a retrain did."""

    retrain_id: str
    status: (
        str  # "promoted", "rejected", "trained" (gate passed, promotion left to a step), "skipped"
    )
    reason: str
    event_id: str | None = None
    champion_version: str | None = None
    challenger_version: str | None = None
    dataset_version: str | None = None
    parent_run_id: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def labelled_production_rows(
    store: ObjectStore, spec: DatasetSpec, current_data_path: str
) -> pd.DataFrame:
    """Labelled recent rows: a given file, or the inference log joined with feedback."""
    if current_data_path:
        frame = read_frame_at(current_data_path, store)
        missing = [c for c in (*spec.features, spec.target) if c not in frame.columns]
        if missing:
            raise InputError(f"{current_data_path} lacks columns: {', '.join(missing)}")
        frame = normalise_labelled(frame, spec)
        if "request_id" not in frame.columns:
            frame["request_id"] = [f"row-{i}" for i in range(len(frame))]
        if "ts" not in frame.columns:
            frame["ts"] = pd.Timestamp.now(tz="UTC")
        return frame
    from driftloop.adapters.production_data import read_feedback, read_inference_log

    return join_feedback(read_inference_log(store), read_feedback(store), spec)


def _write_result(model_dir: Path | None, store: ObjectStore, result: RetrainResult) -> None:
    store.write_json(f"retrains/{result.retrain_id}.json", result.to_dict())
    if model_dir is not None:
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2, default=str))


def retrain_model(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    model_dir: Path | None = None,
    reference_data_path: str = "",
    current_data_path: str = "",
    event_id: str | None = None,
    promote: bool = True,
    progress: ProgressCallback = no_progress,
) -> RetrainResult:
    """Train a challenger, gate it against the champion, promote it if it wins (``progress``
    is told each candidate's training step)."""
    started = time.perf_counter()
    retrain_id = event_id or f"manual-{uuid.uuid4().hex[:12]}"
    lease = acquire_lease(store, "retrain", spec.retrain.lease_ttl_s, holder=retrain_id)
    if lease is None:
        result = RetrainResult(retrain_id, "skipped", "another retrain holds the lease", event_id)
        if event_id:
            record_event(store, event_id, "retrain-skipped", reason=result.reason)
        _write_result(model_dir, store, result)
        return result
    lease.keep_alive()
    try:
        if lease.took_over:
            log.warning(
                "took over a stale retrain lease",
                extra={"stale_holder": lease.took_over.get("holder")},
            )
        if event_id:
            record_event(store, event_id, "retrain-running", retrain_id=retrain_id)
        result = _retrain(
            spec,
            store,
            tracker,
            retrain_id,
            reference_data_path,
            current_data_path,
            event_id,
            promote,
            progress,
        )
        result.seconds = time.perf_counter() - started
        if event_id:
            record_event(store, event_id, f"retrain-{result.status}", result=result.to_dict())
        _write_result(model_dir, store, result)
        return result
    except DriftloopError as exc:
        if event_id:
            record_event(store, event_id, "retrain-failed", error=str(exc))
        raise
    finally:
        lease.release()


def _retrain(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    retrain_id: str,
    reference_data_path: str,
    current_data_path: str,
    event_id: str | None,
    promote: bool,
    progress: ProgressCallback,
) -> RetrainResult:
    from driftloop.jobs.train import fit_candidates

    champion = tracker.alias_version("champion")
    if champion is None or champion.dataset_version is None:
        raise NotFoundError("no champion with a dataset version: run `driftloop train` first")
    base_ds = open_dataset(store, champion.dataset_version)
    base_train = (
        normalise_labelled(read_frame_at(reference_data_path, store), spec)
        if reference_data_path
        else base_ds.frame("train")
    )
    labelled = labelled_production_rows(store, spec, current_data_path)
    labelled = labelled.tail(2 * spec.gate.recent_rows)
    held = holdout_mask(labelled["request_id"], spec.retrain.holdout_share)
    recent_train, recent_eval = labelled[~held], labelled[held]
    new_train, weights = training_set(base_train, recent_train, spec, spec.retrain.recent_weight)
    valid, test = base_ds.frame("valid"), base_ds.frame("test")
    reference = (
        labelled[list(spec.features)]
        if len(labelled) >= spec.drift.min_rows
        else new_train.sample(
            min(len(new_train), spec.split.reference_rows), random_state=spec.split.seed
        )
    )
    version = _child_version(base_ds.version, new_train, reference)
    ds = DatasetVersion(store, version)
    if not ds.exists():
        write_dataset(
            store,
            version,
            {
                "train": new_train,
                "valid": valid,
                "test": test,
                "reference": reference.reset_index(drop=True),
            },
            base_ds.schema(),
            {
                "dataset": spec.name,
                "parent": base_ds.version,
                "retrain_id": retrain_id,
                "event_id": event_id,
                "recent_rows": {"train": len(recent_train), "eval": len(recent_eval)},
                "sample_weight_recent": float(weights[-1]) if len(recent_train) else 1.0,
            },
        )
    tags = {
        "retrain_id": retrain_id,
        "trigger": "drift-event" if event_id else "manual",
        "parent_dataset_version": base_ds.version,
    }
    if event_id:
        tags["event_id"] = event_id
    parent_id, _, best, challenger = fit_candidates(
        spec,
        tracker,
        ds,
        new_train,
        valid,
        run_name=f"retrain-{retrain_id}",
        tags=tags,
        progress=progress,
        sample_weight=weights,
    )
    tracker.set_alias("challenger", challenger.version)

    evaluation = pd.concat(
        [
            recent_eval.tail(spec.gate.recent_rows)[[*spec.features, spec.target]],
            test[[*spec.features, spec.target]],
        ],
        ignore_index=True,
    )
    x_eval, y_eval = features_and_target(evaluation, spec)
    challenger_score = score_pipeline(
        tracker.load_pipeline(challenger.version), x_eval, y_eval, spec.is_classification
    )[spec.metric]
    champion_score = score_pipeline(
        tracker.load_pipeline(champion.version), x_eval, y_eval, spec.is_classification
    )[spec.metric]
    decision = decide_promotion(
        spec.metric,
        challenger.version,
        challenger_score,
        champion.version,
        champion_score,
        spec.gate.margin,
        len(evaluation),
    )
    gate_tags = {f"gate_{k}": v for k, v in decision.to_dict().items()}
    tracker.set_tags(gate_tags, run_id=parent_id)
    tracker.set_version_tags(challenger.version, gate_tags | tags)
    rows = {
        "base_train": len(base_train),
        "recent_train": len(recent_train),
        "recent_eval": len(recent_eval),
        "evaluation": len(evaluation),
    }
    result = RetrainResult(
        retrain_id,
        "trained" if decision.promote else "rejected",
        decision.reason,
        event_id,
        champion.version,
        challenger.version,
        version,
        parent_id,
        rows,
        decision.to_dict(),
    )
    if decision.promote and promote:
        apply_promotion(tracker, store, decision, version)
        result.status = "promoted"
    return result


def _child_version(parent: str, train: pd.DataFrame, reference: pd.DataFrame) -> str:
    import hashlib

    digest = hashlib.sha256(parent.encode())
    digest.update(pd.util.hash_pandas_object(train, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(reference, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def apply_promotion(
    tracker: Tracker, store: ObjectStore, decision: GateDecision, dataset_version: str
) -> None:
    """Point `champion` at the challenger, after checking its artifacts load and verify.

    Refuses when the champion moved since the gate compared against it.
    """
    current = tracker.alias_version("champion")
    current_version = current.version if current else None
    if current_version != decision.champion_version:
        raise DriftloopError(
            f"champion moved from v{decision.champion_version} to v{current_version} since the "
            "gate ran; not promoting"
        )
    if not tracker.artifacts_present(decision.challenger_version):
        raise DriftloopError(
            f"challenger v{decision.challenger_version} artifacts are missing or changed; "
            "champion left as is"
        )
    tracker.set_alias("champion", decision.challenger_version)
    tracker.set_version_tags(
        decision.challenger_version,
        {
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "replaced_version": decision.champion_version or "",
        },
    )
    set_latest(store, dataset_version)


def promote_from_result(tracker: Tracker, store: ObjectStore, model_dir: Path) -> RetrainResult:
    """``driftloop promote``: apply the gate decision a retrain step wrote to its model dir."""
    path = model_dir / RESULT_FILE
    if not path.is_file():
        raise InputError(f"no {RESULT_FILE} in {model_dir}: run `driftloop retrain` first")
    data = json.loads(path.read_text())
    result = RetrainResult(**data)
    if result.status != "trained" or result.gate is None:
        return result
    decision = GateDecision(**result.gate)
    apply_promotion(tracker, store, decision, str(result.dataset_version))
    result.status = "promoted"
    if result.event_id:
        record_event(store, result.event_id, "retrain-promoted", result=result.to_dict())
    _write_result(model_dir, store, result)
    return result
