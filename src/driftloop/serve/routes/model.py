"""GET /model: what is serving and how it got there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from driftloop.serve.data_plane import dump_json
from driftloop.serve.deps import HolderDep

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    summary="The serving model",
    response_model=dict[str, Any],
)
async def read_model(holder: HolderDep) -> Response:
    """Name, version, alias, dataset version, metrics (from the version's tags), when it was
    loaded, the fast path (``compiled`` or ``pipeline``, and why), and the last reload error
    (null when the alias' version is serving)."""
    return Response(dump_json(holder.status()), media_type="application/json")
