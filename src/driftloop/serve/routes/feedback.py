"""POST /feedback: ground-truth labels by request id, stored beside the inference log."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, status

from driftloop.serve.api_models import FeedbackRequest, FeedbackResponse
from driftloop.serve.deps import AdminDep, FeedbackLogDep, HolderDep

router = APIRouter(tags=["feedback"], dependencies=[AdminDep])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    summary="Send true labels",
    responses={401: {"description": "No bearer token."}, 403: {"description": "Wrong token."}},
)
async def create_feedback(
    body: FeedbackRequest, holder: HolderDep, feedback: FeedbackLogDep
) -> FeedbackResponse:
    """``{"labels": [{"request_id": ..., "label": "Yes"}, ...]}``: written as one segment
    under ``feedback/<yyyy>/<mm>/<dd>/`` (spooled while the store is unreachable). A label
    must be one of the model's classes (classification) or a number (regression)."""
    model = holder.current
    labels = [(item.request_id, item.label) for item in body.labels]
    if model is not None:
        errors = []
        for i, (_, label) in enumerate(labels):
            if model.classes is not None and label not in model.classes:
                msg = f"label must be one of {list(model.classes)}"
            elif model.classes is None and not _is_number(label):
                msg = "label must be a number (regression)"
            else:
                continue
            errors.append(
                {
                    "type": "value_error",
                    "loc": ["body", "labels", i, "label"],
                    "msg": msg,
                    "input": label,
                }
            )
        if errors:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors)
    key, stored = await asyncio.to_thread(feedback.write, labels)
    return FeedbackResponse(accepted=len(labels), key=key, spooled=not stored)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
