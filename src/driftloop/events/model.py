"""The drift event: its body, how it is encoded for signing, and what a receiver answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field

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


@dataclass(frozen=True)
class Receipt:
    """What a receiver did with a delivery."""

    status: ReceiptStatus
    reason: str
    event: DriftEvent | None = None


class EventDeliveryError(DriftloopError):
    """The webhook did not take the event after every retry."""


def encode_event(event: DriftEvent) -> bytes:
    """The exact bytes that are signed and sent."""
    return event.model_dump_json().encode()
