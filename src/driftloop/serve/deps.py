"""Dependencies of the route handlers, as ``Annotated`` aliases in one place.

The objects live on ``app.state`` (built by ``create_app``); the getters are ``async`` so
FastAPI calls them inline instead of in its thread pool.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from driftloop.config.settings import Settings
from driftloop.serve.data_plane import DataPlane
from driftloop.serve.feedback_log import FeedbackLog
from driftloop.serve.model_holder import ModelHolder
from driftloop.serve.prediction_log import PredictionLog
from driftloop.serve.simulation import GradualSteps
from driftloop.serve.telemetry import Telemetry

_bearer = HTTPBearer(
    auto_error=False,
    description="The admin token (DRIFTLOOP_ADMIN_TOKEN) as `Authorization: Bearer <token>`.",
)


async def get_settings(request: Request) -> Settings:
    """The settings the app was built from."""
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_data_plane(request: Request) -> DataPlane:
    """The one predict path."""
    return request.app.state.data_plane  # type: ignore[no-any-return]


async def get_feedback_log(request: Request) -> FeedbackLog:
    """Where true labels are stored."""
    return request.app.state.feedback_log  # type: ignore[no-any-return]


async def get_holder(request: Request) -> ModelHolder:
    """The model holder."""
    return request.app.state.holder  # type: ignore[no-any-return]


async def get_prediction_log(request: Request) -> PredictionLog:
    """The prediction log."""
    return request.app.state.prediction_log  # type: ignore[no-any-return]


async def get_gradual_steps(request: Request) -> GradualSteps:
    """How far along its run simulated gradual drift is on this server."""
    return request.app.state.gradual_steps  # type: ignore[no-any-return]


async def get_telemetry(request: Request) -> Telemetry:
    """The metrics."""
    return request.app.state.telemetry  # type: ignore[no-any-return]


async def require_admin(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 without a bearer token, 403 with a wrong one (constant-time comparison)."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "admin token required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = settings.effective_admin_token()
    given = credentials.credentials.encode()
    if expected is None or not hmac.compare_digest(given, expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin token does not match")


SettingsDep = Annotated[Settings, Depends(get_settings)]
DataPlaneDep = Annotated[DataPlane, Depends(get_data_plane)]
FeedbackLogDep = Annotated[FeedbackLog, Depends(get_feedback_log)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
PredictionLogDep = Annotated[PredictionLog, Depends(get_prediction_log)]
GradualStepsDep = Annotated[GradualSteps, Depends(get_gradual_steps)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]
AdminDep = Depends(require_admin)
"""Use as ``dependencies=[AdminDep]`` on admin routers."""
