"""The drift event: its body, how it is encoded for signing, and what a receiver answers."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from driftloop.config.errors import DriftloopError
from driftloop.core.statuses import ReceiptStatus


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
    force_retrain: bool = Field(
        False, description="Retrain even when the workflow's re-check finds no drift (by hand)."
    )


@dataclass(frozen=True)
class Receipt:
    """What a receiver did with a delivery."""

    status: ReceiptStatus
    reason: str
    event: DriftEvent | None = None


class EventDeliveryError(DriftloopError):
    """The webhook did not take the event after every retry."""


def encode_event(event: DriftEvent) -> bytes:
    """The event's canonical encoding: the bytes that are signed, and the bytes that are sent.

    A receiver re-encodes the event it parsed and checks the signature against that, so the
    signature survives transports that re-serialise the JSON (Argo Events compacts it and
    escapes ``<>&``; its Sensor hands the body on as a re-serialised string)."""
    return event.model_dump_json().encode()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(
            f"duplicate keys in the event body: {sorted({k for k in keys if keys.count(k) > 1})}"
        )
    return dict(pairs)


def decode_event(body: bytes | str) -> DriftEvent:
    """Parse an event body; ValueError names what is wrong. Duplicate keys are refused: JSON
    readers disagree on which one counts (gjson, which the Sensor maps fields with, takes the
    first, Python the last), so a signed body with an added duplicate could mean two things."""
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"event body is not JSON: {exc}") from exc
    try:
        return DriftEvent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(
            f"invalid event body: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from exc
