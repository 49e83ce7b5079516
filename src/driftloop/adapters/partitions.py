"""Date-partitioned key families: ``<prefix>/<yyyy>/<mm>/<dd>/...``, walked newest first.

Readers of history (reports, event index, retrains, inference segments) list one folder
level at a time from the newest year down and stop once they have enough, so what they
read is bounded by what they need, not by the age of the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

from driftloop.adapters.store import ObjectStore


def day_prefix(prefix: str, moment: datetime | date) -> str:
    """The folder of one UTC day under a prefix."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return f"{prefix}/{moment:%Y}/{moment:%m}/{moment:%d}"


def _numbered(names: list[str], width: int) -> list[str]:
    return sorted((n for n in names if len(n) == width and n.isdigit()), reverse=True)


def days_newest_first(
    store: ObjectStore, prefix: str, since: date | None = None
) -> Iterator[tuple[date, str]]:
    """(day, folder) of every day folder under ``prefix``, newest first, down to ``since``."""
    for y in _numbered(store.children(prefix), 4):
        if since is not None and int(y) < since.year:
            return
        for m in _numbered(store.children(f"{prefix}/{y}"), 2):
            if since is not None and (int(y), int(m)) < (since.year, since.month):
                break
            for d in _numbered(store.children(f"{prefix}/{y}/{m}"), 2):
                try:
                    day = date(int(y), int(m), int(d))
                except ValueError:
                    continue
                if since is not None and day < since:
                    return
                yield day, f"{prefix}/{y}/{m}/{d}"


def legacy_names(store: ObjectStore, prefix: str) -> list[str]:
    """Names directly under ``prefix`` that are not year folders (the flat layout of
    stores written before partitioning)."""
    return [n for n in store.children(prefix) if not (len(n) == 4 and n.isdigit())]
