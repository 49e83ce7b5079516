"""POST /simulate-drift: drifted requests from held-out rows, through the normal predict path."""

from __future__ import annotations

import asyncio
from collections import Counter

from fastapi import APIRouter, HTTPException

from driftloop.core.simulate import gradual_intensity, simulate_drift
from driftloop.serve.api_models import SimulateDriftRequest, SimulateDriftResponse
from driftloop.serve.data_plane import InvalidRecordsError
from driftloop.serve.deps import AdminDep, DataPlaneDep, FeedbackLogDep, GradualStepsDep
from driftloop.serve.loaded_model import frame_records

router = APIRouter(tags=["simulate"], dependencies=[AdminDep])


@router.post(
    "/simulate-drift",
    response_model=SimulateDriftResponse,
    summary="Send drifted traffic",
    responses={401: {"description": "No bearer token."}, 403: {"description": "Wrong token."},
               503: {"description": "No model loaded yet."}},
)  # fmt: skip
async def simulate_drift_traffic(
    body: SimulateDriftRequest, plane: DataPlaneDep, feedback: FeedbackLogDep,
    gradual: GradualStepsDep,
) -> SimulateDriftResponse:  # fmt: skip
    """Sample ``n`` rows of the champion dataset's validation split, drift them, predict them
    through the same path as /predict (logged with source ``simulate``), then store their
    true labels as feedback (under ``concept``, the labels of the changed relation)."""
    model = plane.model()
    step = gradual.next_step(body.restart) if body.drift_type == "gradual" else None
    try:
        frame = await asyncio.to_thread(
            simulate_drift, model.holdout, body.drift_type, body.n, model.numeric,
            model.categorical, body.seed, model.target, model.classes is not None, step or 1,
        )  # fmt: skip
    except ValueError as exc:  # concept/prior on a holdout without a usable target
        raise HTTPException(422, [{"loc": ["body", "drift_type"], "msg": str(exc),
                                   "type": "value_error"}]) from None  # fmt: skip
    raw = frame_records(frame, model.features)
    chunk = plane.holder.max_batch
    request_ids: list[str] = []
    predicted: Counter[str] = Counter()
    for start in range(0, len(raw), chunk):
        try:
            records = plane.records_from_python(model, raw[start : start + chunk])
        except InvalidRecordsError as exc:
            raise exc.as_http("records") from None
        result = await plane.predict(model, records, source="simulate")
        request_ids += result.request_ids
        predicted.update(str(p) for p in result.predictions)
    truth = frame[model.target].tolist() if model.target in frame else []
    if model.classes is not None:
        truth = [model.classes[int(t)] for t in truth]
    labels = [(rid, str(t)) for rid, t in zip(request_ids, truth, strict=False)]
    if labels:
        await asyncio.to_thread(feedback.write, labels)
    return SimulateDriftResponse(
        drift_type=body.drift_type, sent=len(request_ids), feedback=len(labels),
        model_version=model.version, predictions=dict(predicted), request_ids=request_ids,
        step=step, intensity=gradual_intensity(step) if step else 1.0,
    )  # fmt: skip
