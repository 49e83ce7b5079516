"""The words a retrain and an event record use for where they are: one place for all of them.

``StrEnum`` members are ``str``: they are written to JSON as their value and compare equal
to the strings read back from the store, so records written before this module read the
same.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

ReceiptStatus = Literal["accepted", "duplicate", "rejected"]
"""What a receiver did with one delivery of an event (``events.model.Receipt``)."""


class RetrainStatus(StrEnum):
    """Where a retrain is (``RetrainResult.status``, ``retrains/<id>.json``)."""

    STARTED = "started"
    """A process was started for it (the local runner, the receiver)."""
    RUNNING = "running"
    """It holds the lease and is training."""
    TRAINED = "trained"
    """The gate passed; promotion is left to a later step (``driftloop promote``)."""
    PROMOTED = "promoted"
    """The gate passed and the challenger is champion."""
    REJECTED = "rejected"
    """The gate did not pass; the champion stays."""
    SKIPPED = "skipped"
    """Another retrain held the lease."""
    SUPERSEDED = "superseded"
    """Its event judged a window served by a model version that is no longer the champion:
    nothing was started (a forced event is never superseded)."""
    FAILED = "failed"
    """It raised; the error is recorded."""


FINAL_RETRAIN = frozenset(
    {
        RetrainStatus.TRAINED,
        RetrainStatus.PROMOTED,
        RetrainStatus.REJECTED,
        RetrainStatus.SKIPPED,
        RetrainStatus.SUPERSEDED,
        RetrainStatus.FAILED,
    }
)
"""Statuses after which a retrain does nothing more by itself."""


class EventStatus(StrEnum):
    """The newest step of a drift event's record (``events/<id>.json``)."""

    EMITTED = "emitted"
    DELIVERED = "delivered"
    ACCEPTED = "accepted"
    DUPLICATE_SKIPPED = "duplicate-skipped"
    RETRAIN_STARTED = "retrain-started"
    RETRAIN_RUNNING = "retrain-running"
    RETRAIN_TRAINED = "retrain-trained"
    RETRAIN_PROMOTED = "retrain-promoted"
    RETRAIN_REJECTED = "retrain-rejected"
    RETRAIN_SKIPPED = "retrain-skipped"
    RETRAIN_SUPERSEDED = "retrain-superseded"
    RETRAIN_FAILED = "retrain-failed"


RETRAIN_PREFIX = "retrain-"


def event_status(retrain: RetrainStatus) -> EventStatus:
    """The event step that records a retrain status."""
    return EventStatus(RETRAIN_PREFIX + retrain.value)


def retrain_status(step: str) -> RetrainStatus | None:
    """The retrain status an event step records, or None for a step that is not a retrain's."""
    if not step.startswith(RETRAIN_PREFIX):
        return None
    try:
        return RetrainStatus(step.removeprefix(RETRAIN_PREFIX))
    except ValueError:
        return None


FINAL_EVENT = frozenset(event_status(s) for s in FINAL_RETRAIN)
"""Event steps after which the event's retrain does nothing more."""

GATE_PASSED = "passed"
"""A timeline gate entry whose gate passed without a promotion (yet); one that did not pass
reads ``RetrainStatus.REJECTED``, one that promoted ``RetrainStatus.PROMOTED``."""
