"""Owner of the ``models/`` key family: the champion record, a copy of what the registry
says the ``champion`` alias points at::

    models/<model-name>/champion.json   version, run id, source, the version's tags,
                                        promoted_at, who wrote it and when

The registry (MLflow) stays the record of truth; this copy lets ``detect`` and ``status``
know the champion by reading one small object instead of importing MLflow and opening its
store (about a second per command). The gate (``jobs.promote``) writes it when it moves the
alias; every step that reads the registry's champion anyway (train, retrain, promote, the
server's alias poll, a ``detect`` that found no record) rewrites it when it differs, so a
champion moved by hand in the registry is noticed by the next of those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo
from driftloop.config.errors import NotFoundError

PREFIX = "models"


def champion_key(model_name: str) -> str:
    """Store key of a registered model's champion record."""
    return f"{PREFIX}/{model_name}/champion.json"


@dataclass(frozen=True)
class ChampionRecord:
    """The champion as last copied from the registry."""

    info: ModelVersionInfo
    written_at: str
    written_by: str
    """The step that copied it (``promote``, ``train``, ``serve``, ``detect``, ...)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``champion.json`` holds)."""
        i = self.info
        return {"name": i.name, "version": i.version, "run_id": i.run_id, "source": i.source,
                "tags": dict(i.tags), "promoted_at": i.tags.get("promoted_at"),
                "written_at": self.written_at, "written_by": self.written_by}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChampionRecord:
        """Parse ``champion.json``; ValueError for an object of another shape."""
        try:
            info = ModelVersionInfo(
                name=str(data["name"]), version=str(data["version"]),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
                source=str(data.get("source") or ""),
                tags={str(k): str(v) for k, v in dict(data.get("tags") or {}).items()},
                aliases=("champion",),
            )  # fmt: skip
            return cls(info, str(data["written_at"]), str(data["written_by"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a champion record: {exc}") from None


def same_champion(a: ModelVersionInfo | None, b: ModelVersionInfo | None) -> bool:
    """True when two descriptions of the champion agree on everything the record keeps."""
    if a is None or b is None:
        return a is b
    return (a.name, a.version, a.run_id, a.source, dict(a.tags)) == (
        b.name, b.version, b.run_id, b.source, dict(b.tags))  # fmt: skip


def read_champion_record(store: ObjectStore, model_name: str) -> ChampionRecord | None:
    """The champion record, or None when there is none (or it is unreadable: the registry
    is asked instead, and the record rewritten)."""
    try:
        data = store.read_json(champion_key(model_name))
        return ChampionRecord.from_dict(data) if isinstance(data, dict) else None
    except (NotFoundError, ValueError):
        return None


def write_champion_record(
    store: ObjectStore, info: ModelVersionInfo, written_by: str
) -> ChampionRecord:
    """Copy the registry's champion into the store."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    record = ChampionRecord(info, now, written_by)
    store.write_json(champion_key(info.name), record.to_dict())
    return record


def delete_champion_record(store: ObjectStore, model_name: str) -> None:
    """Forget the champion (the registry has none)."""
    if store.exists(champion_key(model_name)):
        store.delete(champion_key(model_name))


def sync_champion_record(
    store: ObjectStore, model_name: str, registry_champion: ModelVersionInfo | None, by: str
) -> bool:
    """Make the record say what the registry said (``registry_champion``, None: no champion);
    True when it had to be rewritten."""
    record = read_champion_record(store, model_name)
    if same_champion(record.info if record else None, registry_champion):
        return False
    if registry_champion is None:
        delete_champion_record(store, model_name)
    else:
        write_champion_record(store, registry_champion, by)
    return True
