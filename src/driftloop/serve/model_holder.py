"""Which model serves: one reference, replaced atomically when the champion alias moves.

The request path reads ``holder.current`` once per request and uses that model for the
whole request, so a swap never mixes two versions in one answer. Loading happens off the
request path (a thread), under a lock so the watcher and ``/admin/reload`` never load at
the same time. A version that fails to load leaves the old one serving; the failure is
kept for ``/model``, logged and counted, and that version is retried with back-off (an
explicit reload retries it at once). Each time the ``champion`` alias's answer changes,
the store's champion record is made to say the same (``adapters.champion_record``: what
``detect`` and ``status`` read instead of the registry).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from driftloop.adapters.champion_record import same_champion, sync_champion_record
from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import ModelVersionInfo, Tracker
from driftloop.serve.loaded_model import LoadedModel, load_model
from driftloop.serve.telemetry import Telemetry

log = logging.getLogger("driftloop.serve.model")
MAX_RETRY_DELAY_S = 300.0


@dataclass(frozen=True)
class ReloadFailure:
    """A version that could not be served, and why."""

    version: str | None
    error: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"version": self.version, "error": self.error, "at": self.at.isoformat()}


@dataclass(frozen=True)
class ReloadOutcome:
    """What one check of the alias did."""

    champion_version: str | None
    serving_version: str | None
    previous_version: str | None
    changed: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "champion_version": self.champion_version,
            "serving_version": self.serving_version,
            "previous_version": self.previous_version,
            "changed": self.changed,
            "error": self.error,
        }


class ModelHolder:
    """Holds the serving model and replaces it when the alias points elsewhere."""

    def __init__(
        self,
        tracker: Tracker,
        store: ObjectStore,
        telemetry: Telemetry,
        *,
        max_batch: int,
        alias: str = "champion",
        reload_interval_s: float = 5.0,
    ) -> None:
        self.tracker = tracker
        self.store = store
        self.telemetry = telemetry
        self.max_batch = max_batch
        self.alias = alias
        self.reload_interval_s = reload_interval_s
        self._current: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self.champion_version: str | None = None
        self.last_check_at: datetime | None = None
        self.last_error: ReloadFailure | None = None
        self._failures = 0
        self._retry_after = 0.0
        self._recorded: tuple[ModelVersionInfo | None] | None = None
        """The champion last copied into the store's record (None: not yet)."""

    def _copy_champion(self, info: ModelVersionInfo | None) -> None:
        """Make the store's champion record say what the registry just said (read and
        written only when that answer changed since the last copy)."""
        if self.alias != "champion" or (
            self._recorded is not None and same_champion(self._recorded[0], info)
        ):
            return
        try:
            sync_champion_record(self.store, self.tracker.model_name, info, "serve")
        except OSError as exc:  # the store is down: serving goes on; the next poll retries
            log.warning("could not update the champion record", extra={"error": str(exc)})
            return
        self._recorded = (info,)

    @property
    def current(self) -> LoadedModel | None:
        """The serving model (None until one loads). Read it once per request."""
        return self._current

    def _fail(self, version: str | None, exc: BaseException) -> str:
        message = f"{type(exc).__name__}: {exc}"
        self.last_error = ReloadFailure(version, message, datetime.now(UTC))
        self._failures += 1
        delay = min(MAX_RETRY_DELAY_S, max(self.reload_interval_s, 1.0) * 2**self._failures)
        self._retry_after = time.monotonic() + delay
        self.telemetry.reload_failures.inc()
        serving = self._current.version if self._current else None
        log.error(
            "model reload failed; previous model keeps serving",
            extra={"model_version": version, "serving_version": serving, "error": message,
                   "retry_in_s": round(delay, 1)},
        )  # fmt: skip
        return message

    def check(self, force: bool = False) -> ReloadOutcome:
        """Look up the alias; load, smoke-test and swap in a new version (blocking)."""
        with self._load_lock:
            previous = self._current.version if self._current else None
            self.last_check_at = datetime.now(UTC)
            try:
                info = self.tracker.alias_version(self.alias)
            except Exception as exc:  # noqa: BLE001 - registry down: keep serving, report it
                return ReloadOutcome(None, previous, previous, False, self._fail(None, exc))
            self._copy_champion(info)
            if info is None:
                self.champion_version = None
                error = f"model {self.tracker.model_name} has no '{self.alias}' alias"
                return ReloadOutcome(None, previous, previous, False, error)
            self.champion_version = info.version
            if info.version == previous:
                # The alias points at what serves (again): no failure left to report.
                self.last_error = None
                self._failures = 0
                return ReloadOutcome(info.version, previous, previous, False)
            failed_before = self.last_error is not None and self.last_error.version == info.version
            if failed_before and not force and time.monotonic() < self._retry_after:
                assert self.last_error is not None
                return ReloadOutcome(info.version, previous, previous, False, self.last_error.error)
            log.info(
                "loading model", extra={"model_version": info.version, "serving_version": previous}
            )
            try:
                model = load_model(self.tracker, self.store, info, self.max_batch)
            except Exception as exc:  # noqa: BLE001 - any load failure keeps the old model
                return ReloadOutcome(
                    info.version, previous, previous, False, self._fail(info.version, exc)
                )
            self._current = model  # the swap: one reference, read once per request
            self.last_error = None
            self._failures = 0
            self.telemetry.reloads.inc()
            self.telemetry.set_serving(
                info.name, info.version, info.dataset_version or "", model.fast_path
            )
            self.telemetry.set_value_buckets(model.value_buckets)
            log.info(
                "model swapped in",
                extra={
                    "model_version": info.version,
                    "previous_version": previous,
                    "fast_path": model.fast_path,
                },
            )
            return ReloadOutcome(info.version, info.version, previous, True)

    async def check_async(self, force: bool = False) -> ReloadOutcome:
        """``check`` in a thread, off the event loop."""
        return await asyncio.to_thread(self.check, force)

    async def watch(self) -> None:
        """Check the alias every ``reload_interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.reload_interval_s)
            try:
                await self.check_async()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                log.exception("reload check failed")

    def status(self) -> dict[str, Any]:
        """What /model shows."""
        model = self._current
        out: dict[str, Any] = {
            "name": self.tracker.model_name,
            "alias": self.alias,
            "loaded": model is not None,
            "champion_version": self.champion_version,
            "last_check_at": self.last_check_at.isoformat() if self.last_check_at else None,
            "last_reload_error": self.last_error.to_dict() if self.last_error else None,
            "reload_interval_s": self.reload_interval_s,
        }
        if model is None:
            return out
        tags = model.info.tags
        metrics: dict[str, float] = {}
        for key, value in tags.items():
            if key.startswith(("valid_", "test_")):
                try:
                    metrics[key] = float(value)
                except ValueError:
                    continue
        v = model.verification
        out.update(
            version=model.version,
            dataset_version=model.info.dataset_version,
            run_id=model.info.run_id,
            candidate=tags.get("candidate"),
            kind=tags.get("kind"),
            task="classification" if model.classes else "regression",
            classes=list(model.classes) if model.classes else None,
            threshold=model.threshold if model.classes else None,
            features=list(model.features),
            metrics=metrics,
            loaded_at=model.loaded_at.isoformat(),
            load_seconds=round(model.load_seconds, 3),
            fast_path=model.fast_path,
            fast_path_reason=model.fast_path_reason,
            verification=None if v is None else {
                "ok": v.ok, "max_abs_diff": v.max_abs_diff, "rows": v.rows, "reason": v.reason,
            },
        )  # fmt: skip
        return out
