"""The one promotion path: gate a challenger against the champion, then move ``champion``.

``train``, ``retrain`` and ``promote`` all come through here, so every promotion is the
same decision (``core.gate.decide_on_sets``: both models scored on the same rows, the win
checked by a paired bootstrap),
recorded the same way (tags on the run and on the challenger) and applied the same way
(champion-moved check, artifact re-check, the store's champion record,
``datasets/latest.json``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters.datasets import set_latest
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.config.errors import DriftloopError
from driftloop.config.spec import DatasetSpec
from driftloop.core.gate import TEST, GateDecision, decide_on_sets
from driftloop.core.paired_bootstrap import PairedOutputs, improvement_interval
from driftloop.core.performance import window_metrics
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
    threshold, outputs = _outputs(spec, tracker, version, sets)
    return {name: window_metrics(y, out, spec.is_classification, threshold)
            for name, (y, out) in outputs.items()}  # fmt: skip


def _outputs(
    spec: DatasetSpec, tracker: Tracker, version: str, sets: dict[str, pd.DataFrame]
) -> tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A version's decision threshold and its (labels, outputs) on each set: the
    positive-class probability, or the predicted value."""
    threshold = threshold_from_tags(tracker.version_info(version).tags)
    pipeline: Any = tracker.load_pipeline(version)
    out = {}
    for name, rows in sets.items():
        x, y = features_and_target(rows, spec)
        pred = pipeline.predict_proba(x)[:, 1] if spec.is_classification else pipeline.predict(x)
        out[name] = (np.asarray(y, dtype=float), np.asarray(pred, dtype=float))
    return threshold, out


def gate_on_sets(
    spec: DatasetSpec,
    tracker: Tracker,
    challenger_version: str,
    champion: ModelVersionInfo | None,
    sets: dict[str, pd.DataFrame],
    deciding: dict[str, str],
) -> GateDecision:
    """Score challenger and champion on every set; the challenger must win on each set named
    in ``deciding`` (name -> description) by the spec's gate, and — with ``gate.confidence``
    — with confidence on the first of them (a paired bootstrap of both models' outputs on
    the same rows); the other sets are recorded."""
    metric, gate = spec.metric, spec.gate
    t_ours, ours = _outputs(spec, tracker, challenger_version, sets)
    t_theirs, theirs = _outputs(spec, tracker, champion.version, sets) if champion else (0.5, {})

    def score(t: float, yo: tuple[np.ndarray, np.ndarray]) -> float:
        return window_metrics(*yo, spec.is_classification, t)[metric]

    scores = {k: {"rows": len(rows), "challenger": score(t_ours, ours[k]),
                  "champion": score(t_theirs, theirs[k]) if champion else None}
              for k, rows in sets.items()}  # fmt: skip
    interval = None
    first = next(iter(deciding))
    if champion is not None and gate.confidence > 0 and len(sets[first]):
        paired = PairedOutputs(ours[first][0], ours[first][1], theirs[first][1],
                               (t_ours, t_theirs))  # fmt: skip
        interval = improvement_interval(metric, paired, gate.confidence, gate.bootstrap,
                                        gate.seed, first)  # fmt: skip
    versions = (challenger_version, champion.version if champion else None)
    return decide_on_sets(metric, versions, scores, deciding, gate.margin, interval)


def gate_challenger(
    spec: DatasetSpec,
    tracker: Tracker,
    challenger_version: str,
    champion: ModelVersionInfo | None,
    test: pd.DataFrame,
) -> GateDecision:
    """``train``'s gate: challenger and champion on the dataset's test split, by the same
    rule as a retrain's (``gate_on_sets``)."""
    return gate_on_sets(spec, tracker, challenger_version, champion, {TEST: test},
                        {TEST: f"the test split ({len(test)} rows)"})  # fmt: skip


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
