"""``driftloop evaluate``: score a registered model on its dataset's test split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from driftloop.adapters.datasets import open_dataset
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker
from driftloop.config.errors import NotFoundError
from driftloop.config.spec import DatasetSpec
from driftloop.core.metrics import score_pipeline
from driftloop.core.prepare import features_and_target
from driftloop.core.threshold import threshold_from_tags


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one model version on a test split."""

    model_name: str
    version: str
    alias: str | None
    dataset_version: str
    rows: int
    metrics: dict[str, float]
    key: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "dataset_version": self.dataset_version,
            "rows": self.rows,
            "metrics": self.metrics,
            "store_key": self.key,
        }


def evaluate_model(
    spec: DatasetSpec,
    store: ObjectStore,
    tracker: Tracker,
    alias: str | None = None,
    version: str | None = None,
) -> EvaluationResult:
    """Score a version (or the alias's version) on its test split; store and log the metrics."""
    info = tracker.resolve(alias=alias, version=version)
    if info.dataset_version is None:
        raise NotFoundError(f"model v{info.version} has no dataset_version tag")
    ds = open_dataset(store, info.dataset_version)
    test = ds.frame("test")
    x, y = features_and_target(test, spec)
    pipeline = tracker.load_pipeline(info.version)
    metrics = score_pipeline(pipeline, x, y, spec.is_classification, threshold_from_tags(info.tags))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    key = f"evaluations/{info.name}/v{info.version}/{stamp}.json"
    result = EvaluationResult(
        info.name,
        info.version,
        alias if version is None else None,
        ds.version,
        len(test),
        metrics,
        key,
    )
    store.write_json(key, result.to_dict() | {"evaluated_at": stamp})
    with tracker.run(
        f"evaluate-v{info.version}",
        tags={"role": "evaluation", "model_version": info.version, "dataset_version": ds.version},
    ):
        tracker.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        tracker.log_dict(result.to_dict(), "evaluation.json")
    tracker.set_version_tags(info.version, {f"test_{k}": f"{v:.6f}" for k, v in metrics.items()})
    return result
