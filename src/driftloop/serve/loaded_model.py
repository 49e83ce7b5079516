"""One model version made ready to serve: loaded, compiled, verified and smoke-tested.

Loading a version means: download and verify its files (``Tracker.load_pipeline`` checks
their sha256), read its dataset version's schema, test split and reference sample, compile
the pipeline into the fast path (``driftloop.core.encoder``) and check that the compiled
model reproduces the pipeline on the test split within 1e-6 — otherwise the pipeline
itself serves, and ``fast_path_reason`` says why. Last, a smoke test predicts reference
rows through the exact functions the request path uses. Anything that fails raises
``ModelLoadError``, so a broken version never replaces a working one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from driftloop.adapters.datasets import open_dataset
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelLoadError, ModelVersionInfo, Tracker
from driftloop.core.encoder import (
    CompiledModel,
    UnsupportedPipelineError,
    VerificationResult,
    compile_pipeline,
    verify_compiled,
)
from driftloop.core.threshold import DEFAULT_THRESHOLD, threshold_from_tags
from driftloop.serve.prediction_log import LogLayout
from driftloop.serve.request_models import RequestModels, build_request_models, example_record

log = logging.getLogger("driftloop.serve.model")
VERIFY_ATOL = 1e-6
SMOKE_ROWS = 200
FastPath = Literal["compiled", "pipeline"]


@dataclass(frozen=True)
class LoadedModel:
    """A model version with everything the request path needs, read once at load."""

    info: ModelVersionInfo
    schema: dict[str, Any]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, str] | None
    """Class labels (negative, positive) for classification; None for regression."""
    pipeline: Any
    compiled: CompiledModel | None
    fast_path: FastPath
    fast_path_reason: str
    verification: VerificationResult | None
    requests: RequestModels
    known_categories: tuple[tuple[str, frozenset[str]], ...]
    layout: LogLayout
    holdout: pd.DataFrame
    """The dataset's validation split (features and target): source of simulated traffic.

    Not the test split: the promotion gate scores challenger and champion on the test
    split, and simulated rows (with their labels) feed the retrain."""
    target: str
    loaded_at: datetime
    load_seconds: float
    threshold: float = DEFAULT_THRESHOLD
    """Decision threshold (binary): positive when the probability is above it. Chosen on
    validation at training and read from the version's tags."""
    value_buckets: tuple[float, ...] = ()
    """Regression: bucket bounds for the predicted-value histogram in /metrics."""

    @property
    def version(self) -> str:
        """The registry version number."""
        return self.info.version

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names in schema order."""
        return self.requests.features

    def score_one(self, record: Mapping[str, Any]) -> float:
        """Positive-class probability (or regression value) of one record."""
        return float(self.score_many([record])[0])

    def score_many(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Scores of many records (compiled fast path, else the pipeline on a frame)."""
        if self.compiled is not None:
            if self.classes is not None:
                return self.compiled.predict_proba(records)  # type: ignore[arg-type]
            return self.compiled.predict(records)  # type: ignore[arg-type]
        frame = records_frame(records, self.numeric, self.categorical)
        if self.classes is not None:
            return np.asarray(self.pipeline.predict_proba(frame))[:, 1]
        return np.asarray(self.pipeline.predict(frame), dtype=np.float64)

    def label(self, score: float) -> str | float:
        """The prediction a client sees: the class label, or the value for regression."""
        if self.classes is None:
            return score
        return self.classes[1] if score > self.threshold else self.classes[0]

    def unseen(self, record: Mapping[str, Any]) -> list[str]:
        """Categorical features whose value the schema does not list."""
        return [
            name
            for name, known in self.known_categories
            if (v := record[name]) is not None and v not in known
        ]


def records_frame(
    records: Sequence[Mapping[str, Any]], numeric: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """Records as the frame the pipeline was trained on (float64 numbers, object strings)."""
    columns = [*numeric, *categorical]
    frame = pd.DataFrame.from_records(list(records), columns=columns)
    for col in numeric:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in categorical:
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def frame_records(frame: pd.DataFrame, features: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a frame as JSON-ready records (missing -> None)."""
    sub = frame[list(features)].astype(object)
    return sub.where(sub.notna(), None).to_dict("records")  # type: ignore[return-value]


def value_buckets(frame: pd.DataFrame, schema: Mapping[str, Any]) -> tuple[float, ...]:
    """Bucket bounds for regression predictions: the 5%, 10%, ... 95% quantiles of the
    target values (rounded to 4 significant digits, distinct)."""
    target = str((schema.get("target") or {}).get("name", ""))
    if target not in frame.columns or frame.empty:
        return ()
    y = pd.to_numeric(frame[target], errors="coerce").dropna().to_numpy(dtype=float)
    if not len(y):
        return ()
    q = np.quantile(y, np.linspace(0.05, 0.95, 19))
    return tuple(float(f"{v:.4g}") for v in np.unique([float(f"{x:.4g}") for x in q]))


def _classes(schema: Mapping[str, Any], pipeline: Any) -> tuple[str, str] | None:
    target = schema.get("target") or {}
    if target.get("task") == "regression":
        return None
    labels = [str(c) for c in target.get("classes") or []]
    if len(labels) != 2:
        raise ModelLoadError(f"schema target has classes {labels}; need two")
    fitted = [int(c) for c in getattr(pipeline, "classes_", [0, 1])]
    if fitted != [0, 1]:
        raise ModelLoadError(f"pipeline classes {fitted} are not the encoded [0, 1]")
    return labels[0], labels[1]


def _fast_path(
    pipeline: Any, numeric: Sequence[str], categorical: Sequence[str], test: pd.DataFrame
) -> tuple[CompiledModel | None, str, VerificationResult | None]:
    try:
        compiled = compile_pipeline(pipeline, numeric, categorical)
    except UnsupportedPipelineError as exc:
        return None, f"not compiled: {exc}", None
    result = verify_compiled(compiled, pipeline, test[[*numeric, *categorical]], atol=VERIFY_ATOL)
    if not result.ok:
        return None, f"compiled model failed verification: {result.reason}", result
    reason = (
        f"compiled {compiled.kind}; matches the pipeline on {result.rows} test rows "
        f"(max abs diff {result.max_abs_diff:.2g})"
    )
    return compiled, reason, result


def _smoke_test(model: LoadedModel, reference: pd.DataFrame) -> None:
    rows = reference.head(SMOKE_ROWS)
    if rows.empty:
        raise ModelLoadError("reference sample is empty; cannot smoke-test")
    validated = model.requests.records.validate_python(frame_records(rows, model.features))
    records = [model.requests.as_record(r) for r in validated]
    scores = model.score_many(records)
    if scores.shape != (len(records),) or not np.all(np.isfinite(scores)):
        raise ModelLoadError(f"smoke test: {len(records)} reference rows gave scores {scores!r}")
    if model.classes is not None and not np.all((scores >= 0) & (scores <= 1)):
        raise ModelLoadError("smoke test: probabilities outside [0, 1]")
    one = model.score_one(records[0])
    if not math.isclose(one, float(scores[0]), rel_tol=1e-9, abs_tol=1e-9):
        raise ModelLoadError(f"smoke test: one record gave {one}, the batch {scores[0]}")


def load_model(
    tracker: Tracker, store: ObjectStore, info: ModelVersionInfo, max_batch: int
) -> LoadedModel:
    """Load, compile, verify and smoke-test one version; ModelLoadError when anything fails."""
    started = time.perf_counter()
    if not info.dataset_version:
        raise ModelLoadError(f"model v{info.version} has no dataset_version tag")
    pipeline = tracker.load_pipeline(info.version)
    ds = open_dataset(store, info.dataset_version)
    schema = ds.schema()
    test, reference, valid = ds.frame("test"), ds.frame("reference"), ds.frame("valid")
    numeric = tuple(f["name"] for f in schema["features"] if f["kind"] == "numeric")
    categorical = tuple(f["name"] for f in schema["features"] if f["kind"] == "categorical")
    classes = _classes(schema, pipeline)
    compiled, reason, verification = _fast_path(pipeline, numeric, categorical, test)
    features = [f["name"] for f in schema["features"]]
    example = example_record(reference.iloc[0].to_dict(), features) if len(reference) else None
    model = LoadedModel(
        info=info,
        schema=schema,
        numeric=numeric,
        categorical=categorical,
        classes=classes,
        pipeline=pipeline,
        compiled=compiled,
        fast_path="compiled" if compiled is not None else "pipeline",
        fast_path_reason=reason,
        verification=verification,
        requests=build_request_models(schema, max_batch, example),
        known_categories=tuple(
            (f["name"], frozenset(str(c) for c in f.get("categories") or []))
            for f in schema["features"]
            if f["kind"] == "categorical"
        ),
        layout=LogLayout(
            tuple((f["name"], f["kind"]) for f in schema["features"]), classes is not None
        ),
        holdout=valid if len(valid) else test,
        target=str((schema.get("target") or {}).get("name", "")),
        loaded_at=datetime.now(UTC),
        load_seconds=0.0,
        threshold=threshold_from_tags(info.tags) if classes else DEFAULT_THRESHOLD,
        value_buckets=() if classes else value_buckets(valid if len(valid) else test, schema),
    )
    _smoke_test(model, reference)
    seconds = time.perf_counter() - started
    object.__setattr__(model, "load_seconds", seconds)
    log.info(
        "model loaded",
        extra={"model_version": info.version, "fast_path": model.fast_path,
               "seconds": round(seconds, 3)},
    )  # fmt: skip
    return model
