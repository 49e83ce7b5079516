"""``create_app(settings)``: the FastAPI app that serves the registered champion.

The factory builds the service objects (``build_services``: store, registry client, model
holder, prediction log, data plane, metrics) and wires the routers; nothing is loaded or
started until the lifespan runs: then the champion is loaded (the app starts unready if it
cannot be), the prediction-log flusher starts (uploading any spool left behind) and the
reload watcher starts. On shutdown the log is flushed (or spooled) before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response

import driftloop
from driftloop.config.errors import InputError
from driftloop.config.settings import Settings
from driftloop.serve.api_models import V2InferenceRequest
from driftloop.serve.check_worker import ProcessChecker
from driftloop.serve.data_plane import (
    DataPlane,
    InvalidRecordsError,
    ModelNotReadyError,
    dump_json,
)
from driftloop.serve.feedback_log import FeedbackLog
from driftloop.serve.model_holder import ModelHolder
from driftloop.serve.monitor import DriftGauges, DriftMonitor
from driftloop.serve.prediction_log import PredictionLog
from driftloop.serve.routes import (
    admin,
    dashboard,
    drift,
    feedback,
    health,
    metrics,
    model,
    predict,
    simulate,
    v2,
)
from driftloop.serve.simulation import GradualSteps
from driftloop.serve.spool import SegmentWriter
from driftloop.serve.telemetry import MetricsMiddleware, Telemetry

if TYPE_CHECKING:
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

log = logging.getLogger("driftloop.serve")
MIN_PRODUCTION_TOKEN_CHARS = 16
LOG_LEVEL_ENV = "DRIFTLOOP_LOG_LEVEL"
"""Where ``driftloop serve`` puts ``Settings.log_level`` for its workers."""

DESCRIPTION = """\
Serves the registered **champion** of the driftloop model registry. Request fields are
generated from the schema of the champion's dataset version. Every prediction is logged to
the object store (`inference/…`) for drift detection; `/feedback` stores true labels.
Admin routes (`/admin/reload`, `/feedback`, `/simulate-drift`) need
`Authorization: Bearer <admin token>`.
"""


class ServeConfigError(InputError):
    """Settings the server refuses to start with (exit code 2)."""


def check_serve_settings(settings: Settings) -> None:
    """Refuse admin endpoints without a usable token, and a drift monitor that would emit
    unsigned-able events, outside development."""
    if not settings.server.admin_endpoints:
        _check_monitor_secret(settings)
        return
    token = settings.effective_admin_token()
    if token is None:
        raise ServeConfigError(
            f"DRIFTLOOP_ENV={settings.env}: the admin endpoints (/admin/reload, /feedback, "
            "/simulate-drift) need a token. Set DRIFTLOOP_ADMIN_TOKEN (e.g. `openssl rand "
            "-hex 24`), or turn them off with DRIFTLOOP_SERVER__ADMIN_ENDPOINTS=false."
        )
    if settings.env != "development" and len(token) < MIN_PRODUCTION_TOKEN_CHARS:
        raise ServeConfigError(
            f"DRIFTLOOP_ADMIN_TOKEN is {len(token)} characters; outside development it must "
            f"have at least {MIN_PRODUCTION_TOKEN_CHARS} (e.g. `openssl rand -hex 24`)."
        )
    _check_monitor_secret(settings)


def _check_monitor_secret(settings: Settings) -> None:
    if (
        settings.env != "development"
        and settings.server.monitor_every_rows > 0
        and settings.effective_webhook_secret() is None
    ):
        raise ServeConfigError(
            f"DRIFTLOOP_ENV={settings.env}: the drift monitor signs the events it emits and "
            "needs DRIFTLOOP_WEBHOOK__SECRET; set it, or turn the monitor off with "
            "DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS=0."
        )


def _custom_openapi(app: FastAPI, holder: ModelHolder) -> Any:
    """OpenAPI with the serving model's generated request models (rebuilt after a reload)."""
    model = holder.current
    version = model.version if model is not None else None
    if app.openapi_schema is not None and app.state.openapi_model_version == version:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    extra: list[Any] = [V2InferenceRequest]
    if model is not None:
        extra += [model.requests.record, model.requests.batch]
    else:
        placeholder = {"type": "object", "description": "No model loaded yet: fields appear "
                       "here once the champion is serving."}  # fmt: skip
        components["PredictRequest"] = placeholder
        components["PredictBatchRequest"] = placeholder
    for m in extra:
        js = m.model_json_schema(ref_template=ref)
        components.update(js.pop("$defs", {}))
        components[m.__name__] = js
    app.openapi_schema = schema
    app.state.openapi_model_version = version
    return schema


@dataclass(frozen=True)
class Services:
    """The service objects of one app, built from settings (nothing started yet)."""

    settings: Settings
    telemetry: Telemetry
    store: ObjectStore
    tracker: Tracker
    holder: ModelHolder
    prediction_log: PredictionLog
    data_plane: DataPlane
    feedback_log: FeedbackLog
    monitor: DriftMonitor


def build_services(settings: Settings) -> Services:
    """Store, registry client, model holder, prediction log, data plane, drift monitor."""
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

    telemetry = Telemetry()
    store = ObjectStore.from_settings(settings)
    tracker = Tracker(settings, store)
    server = settings.server
    holder = ModelHolder(
        tracker, store, telemetry, max_batch=server.max_batch,
        reload_interval_s=server.reload_interval_s,
    )  # fmt: skip
    writer = SegmentWriter(store, settings.spool_dir)
    prediction_log = PredictionLog(
        writer, telemetry, max_rows=server.log_buffer_rows, flush_rows=server.log_flush_rows,
        flush_interval_s=server.log_flush_interval_s,
    )  # fmt: skip
    # drift checks run after flushes, never on the request path: in the monitor's worker
    # process (or a thread of this one)
    checker = ProcessChecker(settings) if server.monitor_process else None
    monitor = DriftMonitor(
        settings, tracker, server.monitor_every_rows,
        gauges=DriftGauges(telemetry.registry), min_interval_s=server.monitor_min_interval_s,
        store=store, holder=holder, checker=checker,
    )  # fmt: skip
    prediction_log.add_flush_listener(monitor.on_flush)
    return Services(
        settings, telemetry, store, tracker, holder, prediction_log,
        DataPlane(holder, prediction_log, telemetry), FeedbackLog(writer, telemetry), monitor,
    )  # fmt: skip


def _lifespan(services: Services) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up (load the champion, start the log flusher and reload watcher) and shutdown
    (stop them, flush or spool the log)."""
    holder, prediction_log = services.holder, services.prediction_log

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        outcome = await holder.check_async()
        if outcome.serving_version is None:
            log.error(
                "no model loaded at start-up; not ready until one loads",
                extra={"error": outcome.error},
            )
        # The imported libraries and the model are long-lived: keep them out of the
        # garbage collector's full collections, whose pauses show up as p99 latency.
        # (Only at start-up: a model swapped out later is then freed as usual.)
        gc.freeze()
        prediction_log.start()
        services.monitor.start()
        watcher = None
        if services.settings.server.reload_interval_s > 0:
            watcher = asyncio.get_running_loop().create_task(holder.watch(), name="reload")
        log.info(
            "serving",
            extra={"model_version": outcome.serving_version, "pid": os.getpid(),
                   "store": services.store.url},
        )  # fmt: skip
        try:
            yield
        finally:
            services.monitor.stop()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            result = await prediction_log.close()
            log.info(
                "prediction log flushed",
                extra={"written_rows": result.written_rows, "spooled_rows": result.spooled_rows},
            )

    return lifespan


async def _invalid(request: Request, exc: Exception) -> Response:
    # FastAPI's own handler fails (a 500) when the offending input is NaN or infinity, and
    # JSON cannot hold a body that is not UTF-8 (the input of a json_invalid error)
    errors = [
        {**e, "input": e["input"].decode(errors="replace")}
        if isinstance(e.get("input"), bytes) else e
        for e in cast(RequestValidationError, exc).errors()
    ]  # fmt: skip
    return Response(dump_json({"detail": errors}), status_code=422, media_type="application/json")


async def _invalid_body(request: Request, exc: Exception) -> Response:
    # a request body the data plane refused (/predict, /predict/batch): 422 under "body"
    return await _invalid(request, cast(InvalidRecordsError, exc).as_http("body"))


async def _not_ready(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=503)


def _include_routers(app: FastAPI, admin_endpoints: bool) -> None:
    for router in (
        predict.router, v2.router, health.router, model.router, metrics.router, drift.router,
        dashboard.router,
    ):  # fmt: skip
        app.include_router(router)
    if admin_endpoints:
        for router in (admin.router, feedback.router, simulate.router):
            app.include_router(router)


def create_app(settings: Settings) -> FastAPI:
    """Build the app from settings (nothing loads until the app starts)."""
    check_serve_settings(settings)
    services = build_services(settings)
    app = FastAPI(
        title="driftloop prediction service",
        version=driftloop.__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(services),
        # FastAPI's native OpenTelemetry hook checks its providers on every request; the
        # service exports Prometheus metrics (/metrics) instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    for field in fields(services):  # app.state.holder, .data_plane, ... for the routes
        setattr(app.state, field.name, getattr(services, field.name))
    app.state.openapi_model_version = None
    app.state.gradual_steps = GradualSteps()
    app.add_middleware(MetricsMiddleware, telemetry=services.telemetry)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(InvalidRecordsError, _invalid_body)
    app.add_exception_handler(ModelNotReadyError, _not_ready)
    _include_routers(app, settings.server.admin_endpoints)
    app.openapi = lambda: _custom_openapi(app, services.holder)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """uvicorn's factory in each worker: settings and logging from the environment."""
    from driftloop.config.logs import configure_logging

    # One OpenMP thread per worker (PITFALLS: LightGBM's threads fight over the cores);
    # LightGBM is imported later, with the model, so this still takes effect.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = Settings()
    level = settings.log_level.upper()
    configure_logging(settings.json_logs, logging.getLevelNamesMapping().get(level, logging.INFO))
    return create_app(settings)
