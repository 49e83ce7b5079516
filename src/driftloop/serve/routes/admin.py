"""POST /admin/reload: check the registry now instead of at the next interval."""

from __future__ import annotations

from fastapi import APIRouter, Response

from driftloop.serve.api_models import ReloadResponse
from driftloop.serve.data_plane import dump_json
from driftloop.serve.deps import AdminDep, HolderDep

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Reload the champion now",
    responses={
        401: {"description": "No bearer token."},
        403: {"description": "Wrong token."},
        404: {"description": "The registered model has no champion alias."},
        500: {"description": "The champion's version failed to load; the old model serves."},
    },
)
async def reload_model(holder: HolderDep) -> Response:
    """Look up the champion alias; load, smoke-test and swap in a new version.

    With several workers, only the worker that answers reloads now; the others follow
    within ``server.reload_interval_s``.
    """
    outcome = await holder.check_async(force=True)
    code = 200
    if outcome.error is not None:
        code = 404 if outcome.champion_version is None else 500
    return Response(dump_json(outcome.to_dict()), status_code=code, media_type="application/json")
