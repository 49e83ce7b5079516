"""Ground-truth labels by request id, stored as segments beside the inference log."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from driftloop.adapters.production_data import (
    FEEDBACK_PREFIX,
    feedback_table,
    new_segment_id,
    parquet_bytes,
    segment_key,
)
from driftloop.serve.spool import SegmentWriter
from driftloop.serve.telemetry import Telemetry

log = logging.getLogger("driftloop.serve.feedback")


class FeedbackLog:
    """Writes label segments through the segment writer (spooled while the store is down)."""

    def __init__(self, writer: SegmentWriter, telemetry: Telemetry) -> None:
        self.writer = writer
        self.telemetry = telemetry

    def write(self, labels: Sequence[tuple[str, str]]) -> tuple[str, bool]:
        """Store ``(request_id, label)`` pairs as one feedback segment.

        Returns the segment key and whether it reached the store (blocking: use a thread).
        """
        received = datetime.now(UTC)
        key = segment_key(FEEDBACK_PREFIX, received, new_segment_id(received))
        stored = self.writer.write(key, parquet_bytes(feedback_table(labels, received)))
        self.telemetry.feedback_labels.inc(len(labels))
        log.info("feedback received", extra={"labels": len(labels), "key": key, "stored": stored})
        return key, stored
