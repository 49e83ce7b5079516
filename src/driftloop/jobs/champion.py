"""Which version is champion, known without MLflow when the store already says.

``detect`` and ``status`` take the champion from its record in the store
(``adapters.champion_record``) and are given a *tracker source*: a ``Tracker``, or a
function that builds one. They call it only when something is not known yet (no record, a
cache miss after a promotion), so a steady-state check never imports MLflow. Every step
that reads the registry's champion (``registry_champion``) rewrites the record when the
registry says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftloop.adapters.champion_record import (
    ChampionRecord,
    champion_key,
    read_champion_record,
    sync_champion_record,
    write_champion_record,
)
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker


@dataclass(frozen=True)
class DeferredTracker:
    """What builds the tracker the first time it is needed (the CLI's, built once)."""

    model_name: str
    build: Callable[[], Tracker]


TrackerSource = Tracker | DeferredTracker
"""A tracker, or what builds one when it is first needed."""


def tracker_of(source: TrackerSource) -> Tracker:
    """The tracker itself (built now when ``source`` is deferred)."""
    return source.build() if isinstance(source, DeferredTracker) else source


def registry_champion(tracker: Tracker, store: ObjectStore, by: str) -> ModelVersionInfo | None:
    """The version the registry's ``champion`` alias points at; the champion record is
    rewritten (or removed) when it says otherwise. ``by``: the step asking."""
    info = tracker.alias_version("champion")
    sync_champion_record(store, tracker.model_name, info, by)
    return info


def record_promotion(tracker: Tracker, store: ObjectStore, version: str) -> None:
    """Copy a version the gate just made champion (with its new tags) into the record."""
    write_champion_record(store, tracker.version_info(version), "promote")


@dataclass(frozen=True)
class ChampionLookup:
    """The champion and where it was read: the store's record or the registry."""

    info: ModelVersionInfo | None
    record: ChampionRecord | None

    def origin(self, store: ObjectStore) -> dict[str, Any]:
        """What ``status`` shows as the champion's origin."""
        if self.record is None:
            return {"from": "registry", "record": None}
        key = champion_key(self.record.info.name)
        return {"from": "record", "record": store.uri(key),
                "written_at": self.record.written_at,
                "written_by": self.record.written_by}  # fmt: skip


def known_champion(store: ObjectStore, tracker: TrackerSource, by: str) -> ChampionLookup:
    """The champion from its record; from the registry (writing the record) when the store
    has none yet."""
    record = read_champion_record(store, tracker.model_name)
    if record is not None:
        return ChampionLookup(record.info, record)
    return ChampionLookup(registry_champion(tracker_of(tracker), store, by), None)
