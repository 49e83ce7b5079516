"""Write segments to the object store, or to a local spool folder while it is unreachable.

A spooled segment keeps its object key as its relative path under the spool folder, so
uploading it later needs nothing but the file. Spool files are written to a temporary name
and renamed, so a crash never leaves half a segment to upload (a temporary file left by a
crash is removed once it is older than ``STALE_TEMP_S``).

After a failed write the store counts as down (``core.store_health``): segments go straight
to the spool, without paying the S3 client's retries again, until a retry is due; then
uploading the spool, oldest segment first, is the probe.

The flusher's thread and the feedback handlers' threads write through one writer: its store
health and attempt count change only under its lock (never held across I/O).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from driftloop.adapters.store import ObjectStore
from driftloop.core.store_health import StoreHealth

log = logging.getLogger("driftloop.serve.spool")
STALE_TEMP_S = 300.0
"""A spool temporary file this old belongs to no live writer (a crash left it)."""


@dataclass(frozen=True)
class UploadedSegment:
    """A spooled segment that reached the store."""

    key: str
    rows: int


class SegmentWriter:
    """Puts segment bytes in the store; spools them when the store fails."""

    def __init__(
        self,
        store: ObjectStore,
        spool_dir: Path,
        health: StoreHealth | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)
        self.health = health or StoreHealth()
        """The store as this writer saw it; read it through ``store_down``, change it only
        under ``_lock`` (``StoreHealth`` itself is plain data)."""
        self.clock = clock
        self.attempts = 0
        """Writes and uploads tried on the store (a skipped one is not an attempt)."""
        self._lock = threading.Lock()
        self._temp_checked = False

    @property
    def store_down(self) -> bool:
        """True from a failed attempt until a successful one."""
        with self._lock:
            return self.health.down

    def _attempt(self, probe: bool) -> bool:
        """Whether to try the store now (counted when so): while it is down only a due probe."""
        with self._lock:
            go = self.health.should_try(self.clock()) if probe else not self.health.down
            if go:
                self.attempts += 1
            return go

    def _failed(self) -> float:
        """Record a failed attempt; the back-off until the next one."""
        with self._lock:
            self.health.failed(self.clock())
            return self.health.backoff_s

    def _succeeded(self) -> int | None:
        """Record that the store answers; the failures before, if it was down."""
        with self._lock:
            failures = self.health.failures if self.health.down else None
            self.health.succeeded()
            return failures

    def write(self, key: str, data: bytes) -> bool:
        """Write one segment; True when it reached the store, False when it was spooled.

        While the store is down, the segment is spooled without trying the store: the
        spool upload is the probe, and it keeps segments in order.
        """
        if not self._attempt(probe=False):
            self._spool(key, data)
            return False
        try:
            self.store.write_bytes(key, data)
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure: keep the rows on disk
            # s3fs lets botocore's connection errors through untranslated, so this cannot
            # be narrowed to StoreUnavailableError without losing rows.
            backoff_s = self._failed()
            log.warning(
                "object store write failed; spooling segments until it answers again",
                extra={"key": key, "error": f"{type(exc).__name__}: {exc}",
                       "retry_in_s": backoff_s},
            )  # fmt: skip
        self._spool(key, data)
        return False

    def _spool(self, key: str, data: bytes) -> None:
        path = self.spool_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def spooled(self) -> list[Path]:
        """Spooled segment files, oldest key first."""
        if not self.spool_dir.is_dir():
            return []
        return sorted(
            (p for p in self.spool_dir.rglob("*.parquet") if not p.name.startswith(".tmp-")),
            key=lambda p: p.relative_to(self.spool_dir).as_posix(),
        )

    def remove_stale_temp(self, older_than_s: float = STALE_TEMP_S) -> int:
        """Delete spool temporary files a crash left behind; returns how many."""
        removed = 0
        if self.spool_dir.is_dir():
            cutoff = time.time() - older_than_s
            for path in self.spool_dir.rglob(".tmp-*"):
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:  # another worker removed it first
                    continue
        if removed:
            log.info("removed stale spool temporary files", extra={"files": removed})
        return removed

    def upload_spool(self) -> list[UploadedSegment]:
        """Upload spooled segments oldest first; stop at the first failure (store still down).

        While the store is down and no retry is due, nothing is tried.
        """
        if not self._temp_checked:
            self._temp_checked = True
            self.remove_stale_temp()
        uploaded: list[UploadedSegment] = []
        with self._lock:
            if not self.health.should_try(self.clock()):
                return uploaded
        for path in self.spooled():
            read = self._read_spooled(path)
            if read is None:
                continue
            key, rows, data = read
            if not self._attempt(probe=True):  # a concurrent write failed meanwhile
                return uploaded
            try:
                self.store.write_bytes(key, data)
            except Exception as exc:  # noqa: BLE001 - store still unreachable: retry later
                backoff_s = self._failed()
                log.info(
                    "store still unreachable; segments stay spooled",
                    extra={"spooled": len(self.spooled()), "error": type(exc).__name__,
                           "retry_in_s": backoff_s},
                )  # fmt: skip
                return uploaded
            path.unlink(missing_ok=True)
            uploaded.append(UploadedSegment(key, rows))
        failures = self._succeeded()
        if failures is not None:
            log.info("object store answers again", extra={"failures": failures})
        if uploaded:
            log.info(
                "uploaded spooled segments",
                extra={"segments": len(uploaded), "rows": sum(u.rows for u in uploaded)},
            )
        return uploaded

    def _read_spooled(self, path: Path) -> tuple[str, int, bytes] | None:
        """A spooled segment's key, rows and bytes; None when it is gone or unreadable."""
        key = path.relative_to(self.spool_dir).as_posix()
        try:
            rows = pq.read_metadata(path).num_rows
            data = path.read_bytes()
        except FileNotFoundError:  # another worker on this spool uploaded it
            return None
        except (OSError, ValueError) as exc:  # corrupt: set it aside, report it, go on
            bad = path.with_name(path.name + ".bad")
            path.replace(bad)
            log.error(
                "spooled segment unreadable; set aside", extra={"path": str(bad), "error": str(exc)}
            )
            return None
        return key, rows, data
