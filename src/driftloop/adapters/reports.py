"""Owner of the ``reports/`` key family, one folder per check, under the UTC day of its id::

    reports/<yyyy>/<mm>/<dd>/<id>/drift.json     the check's summary
    reports/<yyyy>/<mm>/<dd>/<id>/drift.html     the Evidently report (may come later)
    reports/<yyyy>/<mm>/<dd>/<id>/window.parquet the window's rows, for an HTML on demand

Report ids sort by time (UTC to the microsecond, then a random suffix), so the newest
report is the greatest id, and listing walks the day folders from the newest, reading only
as many as it needs. Stores written before the date folders (``reports/<id>/...``) are
still read: those ids are listed from the top folder, and a report is looked up in its day
folder first, then flat (``driftloop compact`` moves them into day folders).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import pandas as pd

from driftloop.adapters.partitions import days_newest_first, legacy_names
from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError

PREFIX = "reports/"
SUMMARY = "drift.json"
HTML = "drift.html"
WINDOW = "window.parquet"
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


def report_folder(report_id: str) -> str:
    """The folder of a report: its id's UTC day, then the id."""
    return f"{PREFIX}{report_id[:4]}/{report_id[4:6]}/{report_id[6:8]}/{report_id}"


def report_key(report_id: str, name: str = SUMMARY) -> str:
    """Store key of one file of a report."""
    return f"{report_folder(report_id)}/{name}"


def _legacy_key(report_id: str, name: str) -> str:
    return f"{PREFIX}{report_id}/{name}"


def report_uri(store: ObjectStore, report_id: str) -> str:
    """Full URL of a report's HTML."""
    return store.uri(report_key(report_id, HTML))


def report_ids(store: ObjectStore, limit: int | None = None) -> list[str]:
    """Ids of the reports that have a summary, newest first (at most ``limit``): the newest
    day folders only, and one existence check per id returned."""
    ids: list[str] = []
    for _, folder in days_newest_first(store, PREFIX.rstrip("/")):
        ids.extend(n for n in store.children(folder) if is_report_id(n))
        if limit is not None and len(ids) >= limit:
            break
    ids.extend(n for n in legacy_names(store, PREFIX.rstrip("/")) if is_report_id(n))
    out: list[str] = []
    for report_id in sorted(ids, reverse=True):
        if limit is not None and len(out) >= limit:
            break
        if _has_summary(store, report_id):
            out.append(report_id)
    return out


def _has_summary(store: ObjectStore, report_id: str) -> bool:
    return store.exists(report_key(report_id)) or store.exists(_legacy_key(report_id, SUMMARY))


def _read(store: ObjectStore, report_id: str, name: str) -> bytes:
    try:
        return store.read_bytes(report_key(report_id, name))
    except NotFoundError:
        return store.read_bytes(_legacy_key(report_id, name))


def read_report(store: ObjectStore, report_id: str) -> dict[str, Any]:
    """A report's summary; NotFoundError when it is not there."""
    return dict(json.loads(_read(store, report_id, SUMMARY)))


def read_report_html(store: ObjectStore, report_id: str) -> bytes:
    """A report's Evidently HTML; NotFoundError when it is not there."""
    return _read(store, report_id, HTML)


def read_report_window(store: ObjectStore, report_id: str) -> pd.DataFrame:
    """The rows a report checked (kept when its HTML was not rendered); NotFoundError."""
    return store.read_parquet(report_key(report_id, WINDOW))


def write_report(
    store: ObjectStore,
    report_id: str,
    summary: dict[str, Any],
    html: bytes | None = None,
    window: pd.DataFrame | None = None,
) -> None:
    """Write a report: the HTML (or the window's rows, to render it later) first, then the
    summary, so a listed report has what its HTML needs."""
    if html is not None:
        store.write_bytes(report_key(report_id, HTML), html)
    elif window is not None:
        store.write_parquet(report_key(report_id, WINDOW), window)
    store.write_json(report_key(report_id), summary)


def write_report_html(store: ObjectStore, report_id: str, html: bytes) -> None:
    """Add the HTML to a report written without it."""
    store.write_bytes(report_key(report_id, HTML), html)
