"""Owner of the ``reports/`` key family: ``reports/<id>/drift.json`` (the check's summary)
and ``reports/<id>/drift.html`` (the Evidently report).

Report ids sort by time (UTC to the microsecond, then a random suffix), so the newest
report is the greatest id.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from driftloop.adapters.store import ObjectStore

PREFIX = "reports/"
SUMMARY = "drift.json"
HTML = "drift.html"
REPORT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}([0-9]{6})?Z-[0-9a-f]{6}$")
"""A report id (older ids have no microseconds)."""


def new_report_id() -> str:
    """Sortable report id: UTC time to the microsecond plus a random suffix."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1e6) % 1_000_000:06d}Z"
    return stamp + "-" + secrets.token_hex(3)


def is_report_id(value: object) -> bool:
    """True when a value has the shape of a report id (safe to put in a key or a URL)."""
    return value is not None and REPORT_ID.match(str(value)) is not None


def report_key(report_id: str, name: str = SUMMARY) -> str:
    """Store key of one file of a report."""
    return f"{PREFIX}{report_id}/{name}"


def report_uri(store: ObjectStore, report_id: str) -> str:
    """Full URL of a report's HTML."""
    return store.uri(report_key(report_id, HTML))


def report_ids(store: ObjectStore, limit: int | None = None) -> list[str]:
    """Ids of the reports that have a summary, newest first (at most ``limit``)."""
    ids = sorted(
        {k.split("/")[1] for k in store.iter_prefix(PREFIX, "/" + SUMMARY) if k.count("/") == 2},
        reverse=True,
    )
    return ids if limit is None else ids[:limit]


def read_report(store: ObjectStore, report_id: str) -> dict[str, Any]:
    """A report's summary; NotFoundError when it is not there."""
    return dict(store.read_json(report_key(report_id)))


def read_report_html(store: ObjectStore, report_id: str) -> bytes:
    """A report's Evidently HTML; NotFoundError when it is not there."""
    return store.read_bytes(report_key(report_id, HTML))


def write_report(
    store: ObjectStore, report_id: str, summary: dict[str, Any], html: bytes | None = None
) -> None:
    """Write a report: the HTML first, then the summary, so a listed report has its HTML."""
    if html is not None:
        store.write_bytes(report_key(report_id, HTML), html)
    store.write_json(report_key(report_id), summary)
