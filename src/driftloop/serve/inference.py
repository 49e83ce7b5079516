"""The one predict path behind /predict, /predict/batch, the V2 protocol and simulated drift.

Per request: read the serving model once, validate the body with its generated model
(pydantic-core parses and checks the JSON in one pass), score through the compiled fast
path, log one flat row, count, answer with bytes. No pandas and no sklearn on the fast
path; a model served by its pipeline is scored in a worker thread so the event loop stays
free. Feedback labels are written here too, as segments beside the inference log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pydantic_core
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from driftloop.adapters.production_data import (
    FEEDBACK_PREFIX,
    feedback_table,
    new_segment_id,
    parquet_bytes,
    segment_key,
)
from driftloop.serve.loaded_model import LoadedModel
from driftloop.serve.model_holder import ModelHolder
from driftloop.serve.prediction_log import PredictionLog
from driftloop.serve.spool import SegmentWriter
from driftloop.serve.telemetry import Telemetry

log = logging.getLogger("driftloop.serve.inference")
INLINE_MAX_ROWS = 32
"""Batches up to this size are scored on the event loop (compiled path); larger ones in a
thread, so a big batch does not hold up the single-record requests around it."""

# uuid4().hex reads the OS random source on every call (~2-10 µs here); a per-process
# generator seeded from it gives the same uuid4 format for a fraction of that. Request ids
# are identifiers, not secrets.
_rng = random.Random(os.urandom(32))
_getrandbits = _rng.getrandbits
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(32)))


def new_request_id() -> str:
    """A random request id in uuid4 hex form (32 hex digits)."""
    return "%032x" % ((_getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET)


def dump_json(obj: Any) -> bytes:
    """JSON bytes; NaN and infinities become null (they are not JSON), other objects text."""
    return pydantic_core.to_json(obj, inf_nan_mode="null", fallback=str)


class ModelNotReadyError(RuntimeError):
    """No model is loaded yet (503)."""


def validation_error(exc: ValidationError, *loc: str | int) -> RequestValidationError:
    """A pydantic error as FastAPI's 422, with locations under ``body`` (or another prefix)."""
    errors = exc.errors(include_url=False)
    for e in errors:
        e["loc"] = (*loc, *e["loc"])
        ctx = e.get("ctx")
        if ctx:  # an exception object in ctx is not JSON
            e["ctx"] = {k: str(v) for k, v in ctx.items()}
    return RequestValidationError(errors)


@dataclass(frozen=True)
class Predictions:
    """Predictions of several records by one model version."""

    model_version: str
    request_ids: list[str]
    predictions: list[Any]
    probabilities: list[float | None]


class Inference:
    """The predict path: model holder, prediction log and metrics wired together."""

    def __init__(
        self,
        holder: ModelHolder,
        prediction_log: PredictionLog,
        writer: SegmentWriter,
        telemetry: Telemetry,
    ) -> None:
        self.holder = holder
        self.log = prediction_log
        self.writer = writer
        self.telemetry = telemetry

    def model(self) -> LoadedModel:
        """The serving model, or ModelNotReadyError."""
        model = self.holder.current
        if model is None:
            raise ModelNotReadyError("no model loaded yet")
        return model

    # -- one record ------------------------------------------------------------------------
    async def predict_json(self, body: bytes, source: str = "api") -> bytes:
        """Validate one JSON record, predict, log; the JSON response body."""
        model = self.model()
        try:
            instance = model.requests.record.model_validate_json(body)
        except ValidationError as exc:
            raise validation_error(exc, "body") from None
        record = model.requests.as_record(instance)
        if model.compiled is not None:
            score = model.score_one(record)
        else:
            score = await asyncio.to_thread(model.score_one, record)
        request_id = new_request_id()
        prediction = model.label(score)
        probability = score if model.classes is not None else None
        self.log.append(
            model.layout,
            (request_id, time.time(), model.version, source, *record.values(),
             prediction, probability),
        )  # fmt: skip
        self.telemetry.count_predictions(str(prediction) if model.classes else "value", source)
        if model.classes is None:
            self.telemetry.observe_values((score,))
        if model.known_categories:
            for feature in model.unseen(record):
                self.telemetry.count_unseen(feature)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "prediction", extra={"request_id": request_id, "model_version": model.version}
            )
        return dump_json(
            {"request_id": request_id, "prediction": prediction, "probability": probability,
             "model_version": model.version}
        )  # fmt: skip

    # -- many records ----------------------------------------------------------------------
    async def predict_records(
        self, model: LoadedModel, records: Sequence[dict[str, Any]], source: str = "api"
    ) -> Predictions:
        """Predict validated records with one model; log every row."""
        if model.compiled is not None and len(records) <= INLINE_MAX_ROWS:
            scores = model.score_many(records)
        else:
            scores = await asyncio.to_thread(model.score_many, records)
        n = len(records)
        ids = [new_request_id() for _ in range(n)]
        now = time.time()
        version = model.version
        if model.classes is not None:
            negative, positive = model.classes
            is_positive = scores > model.threshold
            predictions: list[Any] = np.where(is_positive, positive, negative).tolist()
            probabilities: list[float | None] = scores.tolist()
            n_positive = int(is_positive.sum())
            if n_positive:
                self.telemetry.count_predictions(positive, source, n_positive)
            if n - n_positive:
                self.telemetry.count_predictions(negative, source, n - n_positive)
        else:
            predictions = scores.tolist()
            probabilities = [None] * n
            self.telemetry.count_predictions("value", source, n)
            self.telemetry.observe_values(predictions)
        rows = [
            (rid, now, version, source, *rec.values(), pred, prob)
            for rid, rec, pred, prob in zip(ids, records, predictions, probabilities, strict=True)
        ]
        self.log.extend(model.layout, rows)
        if model.known_categories:
            for rec in records:
                for feature in model.unseen(rec):
                    self.telemetry.count_unseen(feature)
        log.debug("batch prediction", extra={"rows": n, "model_version": version, "source": source})
        return Predictions(version, ids, predictions, probabilities)

    async def predict_batch_json(self, body: bytes) -> bytes:
        """Validate ``{"records": [...]}``, predict, log; the JSON response body."""
        model = self.model()
        try:
            batch = model.requests.batch.model_validate_json(body)
        except ValidationError as exc:
            raise validation_error(exc, "body") from None
        records = [model.requests.as_record(r) for r in batch.records]  # type: ignore[attr-defined]
        result = await self.predict_records(model, records, "api")
        items = [
            {"request_id": rid, "prediction": pred, "probability": prob}
            for rid, pred, prob in zip(
                result.request_ids, result.predictions, result.probabilities, strict=True
            )
        ]
        return dump_json({"model_version": result.model_version, "predictions": items})

    def validate_records(
        self, model: LoadedModel, raw: Sequence[dict[str, Any]], *loc: str | int
    ) -> list[dict[str, Any]]:
        """Validate plain records with the model's generated model (422 naming the field)."""
        try:
            validated = model.requests.records.validate_python(list(raw))
        except ValidationError as exc:
            raise validation_error(exc, *loc) from None
        return [model.requests.as_record(r) for r in validated]

    # -- feedback --------------------------------------------------------------------------
    def write_feedback(self, labels: Sequence[tuple[str, str]]) -> tuple[str, bool]:
        """Store labels as one feedback segment (spooled if the store is down).

        Returns the segment key and whether it reached the store (blocking: use a thread).
        """
        received = datetime.now(UTC)
        key = segment_key(FEEDBACK_PREFIX, received, new_segment_id(received))
        stored = self.writer.write(key, parquet_bytes(feedback_table(labels, received)))
        self.telemetry.feedback_labels.inc(len(labels))
        log.info("feedback received", extra={"labels": len(labels), "key": key, "stored": stored})
        return key, stored
