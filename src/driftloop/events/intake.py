"""Receiving an event once: verify its signature, parse it, claim its id in the store.

A second delivery of the same id is acknowledged and recorded but not acted on.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from driftloop.adapters.event_records import record_event
from driftloop.adapters.store import ObjectStore
from driftloop.core.signing import verify_signature
from driftloop.core.statuses import EventStatus
from driftloop.events.model import DriftEvent, Receipt

log = logging.getLogger("driftloop.events")


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
        record_event(store, event.event_id, EventStatus.DUPLICATE_SKIPPED)
        log.info("duplicate event skipped", extra={"event_id": event.event_id})
        return Receipt("duplicate", "event id seen before; not acted on again", event)
    record_event(store, event.event_id, EventStatus.ACCEPTED, event=event.model_dump())
    log.info("event accepted", extra={"event_id": event.event_id})
    return Receipt("accepted", "accepted", event)
