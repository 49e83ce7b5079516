"""The one promotion path: gate a challenger against the champion, then move ``champion``.

``train``, ``retrain`` and ``promote`` all come through here, so every promotion is the
same decision (``core.gate.decide_promotion``, both models scored on the same rows),
recorded the same way (tags on the run and on the challenger) and applied the same way
(champion-moved check, artifact re-check, the store's champion record,
``datasets/latest.json``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from driftloop.adapters.datasets import set_latest
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.errors import DriftloopError
from driftloop.config.spec import DatasetSpec
from driftloop.core.gate import GateDecision, decide_on_sets, decide_promotion
from driftloop.core.metrics import score_pipeline
from driftloop.core.prepare import features_and_target
from driftloop.core.threshold import threshold_from_tags
from driftloop.jobs.champion import record_promotion, registry_champion


def score_version(
    spec: DatasetSpec, tracker: Tracker, version: str, rows: pd.DataFrame
) -> dict[str, float]:
    """A registered version's metrics on labelled rows (loaded and verified from the registry),
    labels at the version's own decision threshold."""
    return score_sets(spec, tracker, version, {"rows": rows})["rows"]


def score_sets(
    spec: DatasetSpec, tracker: Tracker, version: str, sets: dict[str, pd.DataFrame]
) -> dict[str, dict[str, float]]:
    """A version's metrics on each named set of labelled rows (the version loaded once)."""
    threshold = threshold_from_tags(tracker.version_info(version).tags)
    pipeline = tracker.load_pipeline(version)
    out = {}
    for name, rows in sets.items():
        x, y = features_and_target(rows, spec)
        out[name] = score_pipeline(pipeline, x, y, spec.is_classification, threshold)
    return out


def gate_on_sets(
    spec: DatasetSpec,
    tracker: Tracker,
    challenger_version: str,
    champion: ModelVersionInfo | None,
    sets: dict[str, pd.DataFrame],
    deciding: dict[str, str],
) -> GateDecision:
    """Score challenger and champion on every set; the challenger must win on each set named
    in ``deciding`` (name -> description) by the spec's gate; the others are recorded."""
    metric = spec.metric
    ours = score_sets(spec, tracker, challenger_version, sets)
    theirs = score_sets(spec, tracker, champion.version, sets) if champion else {}
    scores = {k: {"rows": len(rows), "challenger": ours[k][metric],
                  "champion": theirs[k][metric] if champion else None}
              for k, rows in sets.items()}  # fmt: skip
    versions = (challenger_version, champion.version if champion else None)
    return decide_on_sets(metric, versions, scores, deciding, spec.gate.margin)


def gate_challenger(
    spec: DatasetSpec,
    tracker: Tracker,
    challenger_version: str,
    champion: ModelVersionInfo | None,
    evaluation: pd.DataFrame,
    challenger_metrics: dict[str, float] | None = None,
) -> GateDecision:
    """Score challenger and champion on the same rows; decide by the spec's gate.

    ``challenger_metrics``: the challenger's metrics on ``evaluation`` when the caller
    already has them (saves loading it again).
    """
    metrics = challenger_metrics or score_version(spec, tracker, challenger_version, evaluation)
    challenger_score = metrics[spec.metric]
    champion_score = (
        None
        if champion is None
        else score_version(spec, tracker, champion.version, evaluation)[spec.metric]
    )
    return decide_promotion(
        spec.metric,
        challenger_version,
        challenger_score,
        champion.version if champion else None,
        champion_score,
        spec.gate.margin,
        len(evaluation),
    )


def record_decision(
    tracker: Tracker, decision: GateDecision, run_id: str, version_tags: dict[str, Any]
) -> None:
    """The decision as ``gate_*`` tags on the training run and on the challenger version."""
    gate_tags = {f"gate_{k}": v for k, v in decision.to_dict().items()}
    tracker.set_tags(gate_tags, run_id=run_id)
    tracker.set_version_tags(decision.challenger_version, gate_tags | version_tags)


def apply_promotion(
    tracker: Tracker, store: ObjectStore, decision: GateDecision, dataset_version: str
) -> None:
    """Point `champion` at the challenger, after checking its artifacts load and verify.

    Refuses when the champion moved since the gate compared against it, or when the
    decision is not to promote.
    """
    if not decision.promote:
        raise DriftloopError(f"the gate did not pass v{decision.challenger_version}: "
                             f"{decision.reason}")  # fmt: skip
    current = registry_champion(tracker, store, "promote")
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
    record_promotion(tracker, store, decision.challenger_version)
    set_latest(store, dataset_version)
