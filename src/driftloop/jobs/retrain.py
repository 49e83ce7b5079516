"""``driftloop retrain`` and ``driftloop promote``: train a challenger on old + labelled
production data, gate it against the champion on the same evaluation data, promote.

Only one retrain runs at a time (a lease in the store). Everything is recorded: MLflow tags
on the run and the model version, the event's record under ``events/``, a
``retrains/<yyyy>/<mm>/<dd>/<id>.json`` in the store and ``retrain-result.json`` in the
model dir (which the workflow's later steps read).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters.datasets import DatasetVersion, open_dataset, read_frame_at, write_dataset
from driftloop.adapters.event_records import event_key, record_event
from driftloop.adapters.lease import acquire_lease
from driftloop.adapters.retrain_records import write_retrain
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.errors import DriftloopError, InputError, NotFoundError
from driftloop.config.spec import DatasetSpec
from driftloop.core.gate import BOTH, RECENT, TEST, GateDecision, deciding_sets
from driftloop.core.policy import superseded_reason
from driftloop.core.retraining import (
    holdout_rows,
    join_feedback,
    newest_holdout,
    newest_rows,
    normalise_labelled,
    training_set,
)
from driftloop.core.statuses import EventStatus, RetrainStatus, event_status
from driftloop.jobs.champion import registry_champion
from driftloop.jobs.progress import ProgressCallback, no_progress
from driftloop.jobs.promote import apply_promotion, gate_on_sets, record_decision

log = logging.getLogger("driftloop.retrain")
RESULT_FILE = "retrain-result.json"


@dataclass
class RetrainResult:
    """What a retrain did."""

    retrain_id: str
    status: RetrainStatus
    reason: str
    event_id: str | None = None
    champion_version: str | None = None
    challenger_version: str | None = None
    dataset_version: str | None = None
    parent_run_id: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.status = RetrainStatus(self.status)  # read back from JSON as a plain string

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__, status=str(self.status))


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
    write_retrain(store, result.retrain_id, result.to_dict())
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
    is told each candidate's training step).

    Any failure is recorded (``retrain-failed`` with the error on the event, a ``failed``
    result under ``retrains/``) and then raised.
    """
    started = time.perf_counter()
    retrain_id = event_id or f"manual-{uuid.uuid4().hex[:12]}"
    lease = acquire_lease(store, "retrain", spec.retrain.lease_ttl_s, holder=retrain_id)
    if lease is None:
        result = RetrainResult(
            retrain_id, RetrainStatus.SKIPPED, "another retrain holds the lease", event_id
        )
        if event_id:
            record_event(store, event_id, EventStatus.RETRAIN_SKIPPED, reason=result.reason)
        _write_result(model_dir, store, result)
        return result
    lease.keep_alive()
    inputs = RetrainInputs(reference_data_path, current_data_path, event_id, promote)
    stale = _superseded(store, tracker, event_id)
    if stale is not None:
        lease.release()
        _write_result(model_dir, store, stale)
        return stale
    try:
        if lease.took_over:
            log.warning(
                "took over a stale retrain lease",
                extra={"stale_holder": lease.took_over.get("holder")},
            )
        return _run_and_record(spec, store, tracker, model_dir, retrain_id, inputs, progress)
    except Exception as exc:  # recorded whatever it is, then raised unchanged
        _record_failure(model_dir, store, retrain_id, event_id, exc, started)
        raise
    finally:
        lease.release()


def _superseded(store: ObjectStore, tracker: Tracker, event_id: str | None) -> RetrainResult | None:
    """The result for an event whose window was served by a model version that is no longer
    the champion (a verdict about a replaced model; recorded, nothing trained), or None."""
    if not event_id:
        return None
    try:
        event = dict(store.read_json(event_key(event_id)).get("event") or {})
    except NotFoundError:
        return None  # started by hand with an id the store never saw: nothing to compare
    champion = tracker.alias_version("champion")
    reason = superseded_reason(event.get("model_version"),
                               champion.version if champion else None,
                               forced=bool(event.get("force_retrain")))  # fmt: skip
    if reason is None:
        return None
    result = RetrainResult(event_id, RetrainStatus.SUPERSEDED, reason, event_id,
                           champion_version=champion.version if champion else None)  # fmt: skip
    record_event(store, event_id, EventStatus.RETRAIN_SUPERSEDED, reason=reason)
    log.info("retrain superseded", extra={"event_id": event_id, "reason": reason})
    return result


def _run_and_record(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    model_dir: Path | None,
    retrain_id: str,
    inputs: RetrainInputs,
    progress: ProgressCallback,
) -> RetrainResult:
    """The retrain, with its steps recorded on the event and its result in the store."""
    started = time.perf_counter()
    event_id = inputs.event_id
    if event_id:
        record_event(store, event_id, EventStatus.RETRAIN_RUNNING, retrain_id=retrain_id)
    result = _retrain(spec, store, tracker, retrain_id, inputs, progress)
    result.seconds = time.perf_counter() - started
    _write_result(model_dir, store, result)  # before the event says done: done is recorded
    if event_id:
        record_event(store, event_id, event_status(result.status), result=result.to_dict())
    return result


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DriftloopError) else f"{type(exc).__name__}: {exc}"


def _record_failure(
    model_dir: Path | None,
    store: ObjectStore,
    retrain_id: str,
    event_id: str | None,
    exc: Exception,
    started: float,
) -> None:
    """Record a failed retrain; a store that fails here too is logged, not raised, so the
    caller raises the retrain's own error."""
    error = _describe(exc)
    result = RetrainResult(retrain_id, RetrainStatus.FAILED, error, event_id,
                           seconds=time.perf_counter() - started)  # fmt: skip
    try:
        if event_id:
            record_event(store, event_id, EventStatus.RETRAIN_FAILED, error=error)
        _write_result(model_dir, store, result)
    except (DriftloopError, OSError) as record_exc:
        log.error("could not record the failed retrain",
                  extra={"retrain_id": retrain_id, "error": error,
                         "record_error": _describe(record_exc)})  # fmt: skip


@dataclass(frozen=True)
class RetrainInputs:
    """Where a retrain's data comes from, what started it, whether it may promote."""

    reference_data_path: str = ""
    current_data_path: str = ""
    event_id: str | None = None
    promote: bool = True


@dataclass(frozen=True)
class _TrainingData:
    """The rows a retrain trains and evaluates on."""

    champion: ModelVersionInfo
    base_ds: DatasetVersion
    base_train: pd.DataFrame
    labelled: pd.DataFrame
    recent_train: pd.DataFrame
    recent_eval: pd.DataFrame
    new_train: pd.DataFrame
    weights: np.ndarray


def _training_data(
    spec: DatasetSpec, store: ObjectStore, tracker: Tracker, inputs: RetrainInputs
) -> _TrainingData:
    """The champion's training rows plus the labelled recent rows not held out."""
    champion = registry_champion(tracker, store, "retrain")
    if champion is None or champion.dataset_version is None:
        raise NotFoundError("no champion with a dataset version: run `driftloop train` first")
    base_ds = open_dataset(store, champion.dataset_version)
    base_train = (
        normalise_labelled(read_frame_at(inputs.reference_data_path, store), spec)
        if inputs.reference_data_path
        else base_ds.frame("train")
    )
    labelled = labelled_production_rows(store, spec, inputs.current_data_path)
    labelled = newest_rows(labelled, 2 * spec.gate.recent_rows)
    window = max(spec.drift.window_rows, spec.drift.min_rows)
    held = newest_holdout(labelled["ts"], holdout_rows(len(labelled), window,
                                                       spec.retrain.holdout_share))  # fmt: skip
    recent_train, recent_eval = labelled[~held], labelled[held]
    new_train, weights = training_set(base_train, recent_train, spec, spec.retrain.recent_weight)
    return _TrainingData(champion, base_ds, base_train, labelled, recent_train, recent_eval,
                         new_train, weights)  # fmt: skip


def _write_child_dataset(
    spec: DatasetSpec, store: ObjectStore, data: _TrainingData, retrain_id: str,
    event_id: str | None,
) -> DatasetVersion:  # fmt: skip
    """The retrain's training set as a dataset version (content-addressed: written once)."""
    base_ds, new_train = data.base_ds, data.new_train
    valid, test = base_ds.frame("valid"), base_ds.frame("test")
    # the newest rows, as the drift check sees them: the reference of a model trained after a
    # change must be the changed world, not a mix of before and after (which the next
    # windows would "drift" from, and retrain again)
    newest = max(spec.drift.window_rows, spec.drift.min_rows)
    reference = (
        newest_rows(data.labelled, newest)[list(spec.features)]
        if len(data.labelled) >= spec.drift.min_rows
        else new_train.sample(
            min(len(new_train), spec.split.reference_rows), random_state=spec.split.seed
        )
    )
    ds = DatasetVersion(store, _child_version(base_ds.version, new_train, reference))
    if not ds.exists():
        recent = {"train": len(data.recent_train), "eval": len(data.recent_eval)}
        write_dataset(
            store,
            ds.version,
            {"train": new_train, "valid": valid, "test": test,
             "reference": reference.reset_index(drop=True)},
            base_ds.schema(),
            {"dataset": spec.name, "parent": base_ds.version, "retrain_id": retrain_id,
             "event_id": event_id, "recent_rows": recent,
             "sample_weight_recent": float(data.weights[-1]) if len(data.recent_train) else 1.0},
        )  # fmt: skip
    return ds


def _evaluation_sets(
    spec: DatasetSpec, data: _TrainingData
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """What both models are scored on — the newest held-out production rows, the base test
    split, and both together — and which sets decide (``core.gate.deciding_sets``)."""
    cols = [*spec.features, spec.target]
    recent = newest_rows(data.recent_eval, spec.gate.recent_rows)[cols]
    test = data.base_ds.frame("test")[cols]
    sets = {RECENT: recent, TEST: test, BOTH: pd.concat([recent, test], ignore_index=True)}
    sets = {k: v for k, v in sets.items() if len(v)}
    described = {RECENT: f"the newest {len(recent)} held-out production rows",
                 BOTH: f"those and the test split ({len(recent) + len(test)} rows)",
                 TEST: f"the test split ({len(test)} rows)"}  # fmt: skip
    if len(recent) < spec.gate.min_recent_rows:
        described[BOTH] = f"the newest {len(recent)} held-out production rows and the test split"
    names = deciding_sets(len(recent), spec.gate.min_recent_rows, spec.gate.confidence > 0)
    return sets, {name: described[name] for name in names}


def _retrain(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    retrain_id: str,
    inputs: RetrainInputs,
    progress: ProgressCallback,
) -> RetrainResult:
    from driftloop.jobs.train import fit_candidates

    data = _training_data(spec, store, tracker, inputs)
    ds = _write_child_dataset(spec, store, data, retrain_id, inputs.event_id)
    tags = {
        "retrain_id": retrain_id,
        "trigger": "drift-event" if inputs.event_id else "manual",
        "parent_dataset_version": data.base_ds.version,
    }
    if inputs.event_id:
        tags["event_id"] = inputs.event_id
    fit = fit_candidates(spec, tracker, ds, data.new_train, data.base_ds.frame("valid"),
                         run_name=f"retrain-{retrain_id}", tags=tags, progress=progress,
                         sample_weight=data.weights)  # fmt: skip
    challenger = fit.registered
    tracker.set_alias("challenger", challenger.version)
    sets, deciding = _evaluation_sets(spec, data)
    decision = gate_on_sets(spec, tracker, challenger.version, data.champion, sets, deciding)
    record_decision(tracker, decision, fit.parent_run_id, tags)
    rows = {"base_train": len(data.base_train), "recent_train": len(data.recent_train),
            "recent_eval": len(data.recent_eval),
            "evaluation": decision.evaluation_rows}  # fmt: skip
    result = RetrainResult(
        retrain_id,
        RetrainStatus.TRAINED if decision.promote else RetrainStatus.REJECTED,
        decision.reason,
        inputs.event_id,
        data.champion.version,
        challenger.version,
        ds.version,
        fit.parent_run_id,
        rows,
        decision.to_dict(),
    )
    if decision.promote and inputs.promote:
        apply_promotion(tracker, store, decision, ds.version)
        result.status = RetrainStatus.PROMOTED
    return result


def _child_version(parent: str, train: pd.DataFrame, reference: pd.DataFrame) -> str:
    import hashlib

    digest = hashlib.sha256(parent.encode())
    digest.update(pd.util.hash_pandas_object(train, index=False).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(reference, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def promote_from_result(tracker: Tracker, store: ObjectStore, model_dir: Path) -> RetrainResult:
    """``driftloop promote``: apply the gate decision a retrain step wrote to its model dir."""
    path = model_dir / RESULT_FILE
    if not path.is_file():
        raise InputError(f"no {RESULT_FILE} in {model_dir}: run `driftloop retrain` first")
    data = json.loads(path.read_text())
    result = RetrainResult(**data)
    if result.status != RetrainStatus.TRAINED or result.gate is None:
        return result
    decision = GateDecision(**result.gate)
    apply_promotion(tracker, store, decision, str(result.dataset_version))
    result.status = RetrainStatus.PROMOTED
    if result.event_id:
        record_event(store, result.event_id, EventStatus.RETRAIN_PROMOTED, result=result.to_dict())
    _write_result(model_dir, store, result)
    return result
