"""Receiving an event once: parse it, verify its signature, claim its id in the store.

The signature covers the event's canonical encoding (``encode_event``), so a body that a
transport re-serialised still verifies, and one whose fields were changed does not. A second
delivery of the same id is acknowledged and recorded but not acted on. The local receiver and
the cluster workflow's first step (``driftloop event verify``) both go through here.
"""

from __future__ import annotations

import logging

from driftloop.adapters.event_records import record_event
from driftloop.adapters.store import ObjectStore
from driftloop.core.signing import verify_signature
from driftloop.core.statuses import EventStatus
from driftloop.events.model import Receipt, decode_event, encode_event

log = logging.getLogger("driftloop.events")


def receive_event(
    body: bytes | str, signature: str | None, secret: str, store: ObjectStore
) -> Receipt:
    """Parse, verify and claim an event; duplicates are acknowledged and not acted on."""
    try:
        event = decode_event(body)
    except ValueError as exc:
        return Receipt("rejected", str(exc))
    canonical = encode_event(event)
    if not verify_signature(canonical, signature, secret):
        return Receipt("rejected", "bad or missing signature")
    claim = f"events/{event.event_id}.claim.json"
    if not store.create_exclusive(claim, canonical):
        record_event(store, event.event_id, EventStatus.DUPLICATE_SKIPPED)
        log.info("duplicate event skipped", extra={"event_id": event.event_id})
        return Receipt("duplicate", "event id seen before; not acted on again", event)
    record_event(store, event.event_id, EventStatus.ACCEPTED, event=event.model_dump())
    log.info("event accepted", extra={"event_id": event.event_id})
    return Receipt("accepted", "accepted", event)
