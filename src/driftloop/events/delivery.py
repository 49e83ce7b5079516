"""Drift events out: sign and deliver with retries, or hand them to the local runner.

The sender signs the JSON body with HMAC-SHA256 (header ``X-Driftloop-Signature``).
"""

from __future__ import annotations

import time

from driftloop.adapters.event_records import record_event
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import DriftloopError
from driftloop.config.settings import Settings
from driftloop.core.signing import SIGNATURE_HEADER, sign_body
from driftloop.core.statuses import EventStatus
from driftloop.events.intake import receive_event
from driftloop.events.local_runner import start_local_retrain
from driftloop.events.model import DriftEvent, EventDeliveryError, Receipt, encode_event


def deliver_event(
    event: DriftEvent,
    url: str,
    secret: str,
    retries: int = 4,
    timeout_s: float = 5.0,
    backoff_s: float = 0.5,
    token: str | None = None,
) -> int:
    """POST a signed event, retrying on connection errors and 5xx; returns the HTTP status."""
    import httpx

    body = encode_event(event)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(body, secret)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last = "no attempt"
    for attempt in range(max(retries, 1)):
        try:
            resp = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
            if resp.status_code < 500:
                if resp.status_code >= 400:
                    raise EventDeliveryError(
                        f"webhook {url} refused event {event.event_id}: "
                        f"HTTP {resp.status_code} {resp.text[:200]}"
                    )
                return resp.status_code
            last = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt + 1 < retries:
            time.sleep(backoff_s * 2**attempt)
    raise EventDeliveryError(
        f"could not deliver event {event.event_id} to {url} after {retries} attempts: {last}"
    )


def emit_event(
    event: DriftEvent, settings: Settings, store: ObjectStore, run_locally: bool = True
) -> Receipt:
    """Sign and deliver an event: to the webhook when configured, else to the local runner."""
    secret = settings.effective_webhook_secret()
    if secret is None:
        raise DriftloopError("no webhook secret: set DRIFTLOOP_WEBHOOK__SECRET")
    record_event(
        store,
        event.event_id,
        EventStatus.EMITTED,
        event=event.model_dump(),
        target=settings.webhook.url or "local",
    )
    if settings.webhook.url:
        status = deliver_event(
            event,
            settings.webhook.url,
            secret,
            settings.webhook.retries,
            settings.webhook.timeout_s,
            token=settings.webhook.token.get_secret_value() if settings.webhook.token else None,
        )
        record_event(store, event.event_id, EventStatus.DELIVERED, http_status=status)
        return Receipt("accepted", f"delivered to {settings.webhook.url} (HTTP {status})", event)
    body = encode_event(event)
    receipt = receive_event(body, sign_body(body, secret), secret, store)
    if receipt.status == "accepted" and run_locally:
        run_accepted_locally(event, settings, store)
    return receipt


def run_accepted_locally(event: DriftEvent, settings: Settings, store: ObjectStore) -> None:
    """Start the local retrain of an event the local receiver accepted, and record it."""
    proc = start_local_retrain(event, settings)
    record_event(store, event.event_id, EventStatus.RETRAIN_STARTED, pid=proc.pid)
