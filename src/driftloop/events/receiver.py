"""A local drift-event receiver: what the Argo Events webhook EventSource is in the cluster.

``driftloop event listen`` serves ``POST /drift-detected`` on port 12000. It verifies the
HMAC signature, acknowledges a duplicate event id without acting on it, and starts the
retrain in a background process.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from driftloop.adapters.event_records import record_event
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import InputError
from driftloop.config.settings import Settings
from driftloop.core.signing import SIGNATURE_HEADER
from driftloop.core.statuses import EventStatus
from driftloop.events.intake import receive_event
from driftloop.events.local_runner import start_local_retrain


def create_receiver_app(settings: Settings, run_retrain: bool = True) -> FastAPI:
    """The receiver app, built from settings."""
    secret = settings.effective_webhook_secret()
    if secret is None:
        raise InputError("DRIFTLOOP_WEBHOOK__SECRET is required outside development")
    store = ObjectStore.from_settings(settings)
    token = settings.webhook.token.get_secret_value() if settings.webhook.token else None
    app = FastAPI(title="driftloop event receiver")

    @app.post("/drift-detected")
    async def drift_detected(request: Request) -> JSONResponse:
        if token is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"status": "rejected", "reason": "bad bearer token"}, 401)
        body = await request.body()
        receipt = receive_event(body, request.headers.get(SIGNATURE_HEADER), secret, store)
        payload: dict[str, Any] = {"status": receipt.status, "reason": receipt.reason}
        if receipt.event is not None:
            payload["event_id"] = receipt.event.event_id
        if receipt.status == "rejected":
            return JSONResponse(payload, status_code=401)
        if receipt.status == "accepted" and run_retrain and receipt.event is not None:
            proc = start_local_retrain(receipt.event, settings)
            record_event(store, receipt.event.event_id, EventStatus.RETRAIN_STARTED, pid=proc.pid)
        return JSONResponse(payload)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
