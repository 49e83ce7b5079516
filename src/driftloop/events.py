"""Drift events: build, sign, deliver with retries, receive once, record under ``events/``.

The sender signs the JSON body with HMAC-SHA256 (header ``X-Driftloop-Signature``). A
receiver verifies the signature, then claims the event id with an exclusive create in the
store: a second delivery of the same id is acknowledged and recorded but not acted on.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from driftloop.core.signing import SIGNATURE_HEADER, sign_body, verify_signature
from driftloop.errors import DriftloopError, NotFoundError
from driftloop.settings import Settings
from driftloop.store import ObjectStore

log = logging.getLogger("driftloop.events")


class DriftWindow(BaseModel):
    """The production window that was checked."""

    rows: int = Field(0, description="Rows in the window.")
    start: str | None = Field(None, description="Timestamp of the first row (ISO 8601).")
    end: str | None = Field(None, description="Timestamp of the last row (ISO 8601).")


class DriftEvent(BaseModel):
    """The body of a drift event, as posted to the webhook."""

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, description="Unique id.")
    created_at: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        description="When the event was made.",
    )
    source: str = Field("driftloop", description="Who emitted it (detect, monitor, manual).")
    drift_score: float = Field(description="Share of drifted features, 0..1.")
    drifted_features: list[str] = Field(default_factory=list)
    report_uri: str | None = Field(None, description="Location of the drift report.")
    report_id: str | None = None
    model_name: str | None = None
    model_version: str | None = Field(None, description="Serving model version when detected.")
    dataset_version: str | None = None
    window: DriftWindow = Field(default_factory=DriftWindow)
    data_dir: str = Field("", description="Object store root (workflow parameter data-dir).")
    reference_data_path: str = Field("", description="Reference data ('' = the champion's).")
    current_data_path: str = Field("", description="Current data ('' = labelled inference log).")


@dataclass(frozen=True)
class Receipt:
    """What a receiver did with a delivery."""

    status: Literal["accepted", "duplicate", "rejected"]
    reason: str
    event: DriftEvent | None = None


class EventDeliveryError(DriftloopError):
    """The webhook did not take the event after every retry."""


def event_key(event_id: str) -> str:
    """Store key of an event's record."""
    return f"events/{event_id}.json"


def encode_event(event: DriftEvent) -> bytes:
    """The exact bytes that are signed and sent."""
    return event.model_dump_json().encode()


def record_event(store: ObjectStore, event_id: str, what: str, **details: Any) -> dict[str, Any]:
    """Append a step to an event's record (creating it when needed)."""
    try:
        record = dict(store.read_json(event_key(event_id)))
    except NotFoundError:
        record = {"event_id": event_id, "history": []}
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    record["status"] = what
    record["updated_at"] = now
    record.setdefault("history", []).append({"at": now, "what": what, **details})
    if "event" in details:
        record["event"] = details["event"]
    store.write_json(event_key(event_id), record)
    return record


def read_events(store: ObjectStore, limit: int = 100) -> list[dict[str, Any]]:
    """The newest event records, newest first."""
    records = []
    for key in store.iter_prefix("events/", ".json"):
        if key.count("/") == 1 and not key.endswith(".claim.json"):
            try:
                records.append(dict(store.read_json(key)))
            except NotFoundError:
                continue
    records.sort(key=lambda r: r.get("updated_at", ""), reverse=True)
    return records[:limit]


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


def receive_event(body: bytes, signature: str | None, secret: str, store: ObjectStore) -> Receipt:
    """Verify, parse and claim an event; duplicates are acknowledged and not acted on."""
    if not verify_signature(body, signature, secret):
        return Receipt("rejected", "bad or missing signature")
    try:
        event = DriftEvent.model_validate_json(body)
    except ValidationError as exc:
        return Receipt("rejected", f"invalid event body: {exc.errors()[0]['msg']}")
    claim = f"events/{event.event_id}.claim.json"
    if not store.create_exclusive(claim, body):
        record_event(store, event.event_id, "duplicate-skipped")
        log.info("duplicate event skipped", extra={"event_id": event.event_id})
        return Receipt("duplicate", "event id seen before; not acted on again", event)
    record_event(store, event.event_id, "accepted", event=event.model_dump())
    log.info("event accepted", extra={"event_id": event.event_id})
    return Receipt("accepted", "accepted", event)


def retrain_command(event: DriftEvent, settings: Settings) -> list[str]:
    """The `driftloop retrain` command line an accepted event runs."""
    model_dir = settings.state_dir / "retrains" / event.event_id
    return [
        sys.executable,
        "-m",
        "driftloop",
        "retrain",
        "--data-dir",
        event.data_dir or settings.store,
        "--model-dir",
        str(model_dir),
        "--reference-data-path",
        event.reference_data_path,
        "--current-data-path",
        event.current_data_path,
        "--event-id",
        event.event_id,
    ]


def start_local_retrain(event: DriftEvent, settings: Settings) -> subprocess.Popen[bytes]:
    """Run the retrain for an accepted event in a background process (local mode)."""
    logs = Path(settings.state_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = (logs / f"retrain-{event.event_id}.log").open("ab")
    proc = subprocess.Popen(
        retrain_command(event, settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    log.info("local retrain started", extra={"event_id": event.event_id, "pid": proc.pid})
    return proc


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
        "emitted",
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
        record_event(store, event.event_id, "delivered", http_status=status)
        return Receipt("accepted", f"delivered to {settings.webhook.url} (HTTP {status})", event)
    body = encode_event(event)
    receipt = receive_event(body, sign_body(body, secret), secret, store)
    if receipt.status == "accepted" and run_locally:
        proc = start_local_retrain(event, settings)
        record_event(store, event.event_id, "retrain-started", pid=proc.pid)
    return receipt
