"""GET /health/live and /health/ready: probes for the orchestrator."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from driftloop.serve.deps import HolderDep

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The process answers")
async def read_live() -> dict[str, str]:
    """200 while the process runs."""
    return {"status": "live"}


@router.get(
    "/health/ready",
    summary="A model is loaded",
    responses={503: {"description": "No model loaded yet."}},
)
async def read_ready(holder: HolderDep) -> JSONResponse:
    """200 with the serving version once a model is loaded, 503 before."""
    model = holder.current
    if model is None:
        return JSONResponse({"status": "not ready", "reason": "no model loaded"}, 503)
    return JSONResponse({"status": "ready", "model_version": model.version})
