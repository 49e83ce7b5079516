"""The data plane: the one path every prediction takes, whatever the wire format.

``/predict``, ``/predict/batch``, the V2 ``infer`` and ``/simulate-drift`` only convert their
wire format to and from the values here (MLServer's shape: thin endpoints, one data plane).
Per request: read the serving model once; validate with its generated request models
(every field present and of its type, numbers finite, a batch of 1 to ``max_batch``
records: ``InvalidRecordsError`` names the field); score through the compiled fast path;
log one flat row per prediction; count. No pandas and no sklearn on the fast path; a model
served by its pipeline (and a large batch) is scored in a worker thread so the event loop
stays free.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pydantic_core
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from driftloop.serve.loaded_model import LoadedModel
from driftloop.serve.model_holder import ModelHolder
from driftloop.serve.prediction_log import PredictionLog
from driftloop.serve.telemetry import Telemetry

log = logging.getLogger("driftloop.serve.data_plane")
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


class InvalidRecordsError(ValueError):
    """Records that fail validation: ``errors`` in pydantic's form (JSON-ready), each ``loc``
    relative to what was validated (``(field,)``, ``("records", row, field)``, ``(row, field)``).
    """

    def __init__(self, errors: list[Any]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors

    @classmethod
    def from_pydantic(cls, exc: ValidationError) -> InvalidRecordsError:
        """The errors of a pydantic ValidationError, made JSON-ready."""
        errors = exc.errors(include_url=False)
        for e in errors:
            ctx = e.get("ctx")
            if ctx:  # an exception object in ctx is not JSON
                e["ctx"] = {k: str(v) for k, v in ctx.items()}
        return cls(list(errors))

    def as_http(self, *loc: str | int) -> RequestValidationError:
        """FastAPI's 422, with every location under ``loc`` (``"body"`` for a request body)."""
        return RequestValidationError([{**e, "loc": (*loc, *e["loc"])} for e in self.errors])


class BatchSizeError(InvalidRecordsError):
    """A batch of decoded records with no rows, or more than ``max_batch``."""

    def __init__(self, rows: int, max_batch: int) -> None:
        kind, bound = ("too_long", f"at most {max_batch}") if rows else ("too_short", "at least 1")
        self.message = f"{rows} rows; {bound} per request"
        super().__init__([{"type": kind, "loc": (), "msg": self.message, "input": rows}])

    def __str__(self) -> str:
        return self.message


class Prediction(TypedDict):
    """One record's prediction; a plain dict (the cheapest to build and to serialise on the
    one-record hot path), in the field order of ``PredictResponse``."""

    request_id: str
    prediction: Any
    probability: float | None
    model_version: str


@dataclass(frozen=True)
class Predictions:
    """Predictions of several records by one model version."""

    model_version: str
    request_ids: list[str]
    predictions: list[Any]
    probabilities: list[float | None]


class DataPlane:
    """Validate, score, log and count predictions: the model holder, prediction log and
    metrics wired together."""

    def __init__(
        self, holder: ModelHolder, prediction_log: PredictionLog, telemetry: Telemetry
    ) -> None:
        self.holder = holder
        self.log = prediction_log
        self.telemetry = telemetry

    def model(self) -> LoadedModel:
        """The serving model, or ModelNotReadyError. Read once per request."""
        model = self.holder.current
        if model is None:
            raise ModelNotReadyError("no model loaded yet")
        return model

    # -- validation ------------------------------------------------------------------------
    def record_from_json(self, model: LoadedModel, body: bytes) -> dict[str, Any]:
        """One JSON record (pydantic-core parses and checks it in one pass)."""
        try:
            instance = model.requests.record.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidRecordsError.from_pydantic(exc) from None
        return model.requests.as_record(instance)

    def records_from_json(self, model: LoadedModel, body: bytes) -> list[dict[str, Any]]:
        """``{"records": [...]}``; its generated model bounds the batch to 1..max_batch."""
        try:
            batch = model.requests.batch.model_validate_json(body)
        except ValidationError as exc:
            raise InvalidRecordsError.from_pydantic(exc) from None
        as_record = model.requests.as_record
        return [as_record(r) for r in batch.records]  # type: ignore[attr-defined]

    def records_from_python(
        self, model: LoadedModel, raw: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Decoded records (V2 tensors, simulated rows): 1..max_batch of them, each valid."""
        if not 1 <= len(raw) <= self.holder.max_batch:
            raise BatchSizeError(len(raw), self.holder.max_batch)
        try:
            validated = model.requests.records.validate_python(list(raw))
        except ValidationError as exc:
            raise InvalidRecordsError.from_pydantic(exc) from None
        as_record = model.requests.as_record
        return [as_record(r) for r in validated]

    # -- prediction ------------------------------------------------------------------------
    async def predict_one(
        self, model: LoadedModel, record: dict[str, Any], source: str = "api"
    ) -> Prediction:
        """Score one validated record with ``model``, log it and count it."""
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
        return {"request_id": request_id, "prediction": prediction, "probability": probability,
                "model_version": model.version}  # fmt: skip

    async def predict(
        self, model: LoadedModel, records: Sequence[dict[str, Any]], source: str = "api"
    ) -> Predictions:
        """Score validated records with ``model``, log every row and count them."""
        if model.compiled is not None and len(records) <= INLINE_MAX_ROWS:
            scores = model.score_many(records)
        else:
            scores = await asyncio.to_thread(model.score_many, records)
        n = len(records)
        ids = [new_request_id() for _ in range(n)]
        predictions, probabilities = self._labels(model, scores, source)
        now = time.time()
        version = model.version
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

    def _labels(
        self, model: LoadedModel, scores: np.ndarray, source: str
    ) -> tuple[list[Any], list[float | None]]:
        """Predictions and probabilities of scores, counted by class."""
        n = len(scores)
        if model.classes is None:
            self.telemetry.count_predictions("value", source, n)
            values = scores.tolist()
            self.telemetry.observe_values(values)
            return values, [None] * n
        negative, positive = model.classes
        above = scores > model.threshold
        n_positive = int(above.sum())
        if n_positive:
            self.telemetry.count_predictions(positive, source, n_positive)
        if n - n_positive:
            self.telemetry.count_predictions(negative, source, n - n_positive)
        return np.where(above, positive, negative).tolist(), scores.tolist()
