"""Write segments to the object store, or to a local spool folder while it is unreachable.

A spooled segment keeps its object key as its relative path under the spool folder, so
uploading it later needs nothing but the file. Spool files are written to a temporary name
and renamed, so a crash never leaves half a segment to upload.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from driftloop.store import ObjectStore

log = logging.getLogger("driftloop.serve.spool")


@dataclass(frozen=True)
class UploadedSegment:
    """A spooled segment that reached the store."""

    key: str
    rows: int


class SegmentWriter:
    """Puts segment bytes in the store; spools them when the store fails."""

    def __init__(self, store: ObjectStore, spool_dir: Path) -> None:
        self.store = store
        self.spool_dir = Path(spool_dir)

    def write(self, key: str, data: bytes) -> bool:
        """Write one segment; True when it reached the store, False when it was spooled."""
        try:
            self.store.write_bytes(key, data)
            return True
        except Exception as exc:  # noqa: BLE001 - any store failure: keep the rows on disk
            # s3fs lets botocore's connection errors through untranslated, so this cannot
            # be narrowed to StoreUnavailableError without losing rows.
            log.warning(
                "object store write failed; spooling segment",
                extra={"key": key, "error": f"{type(exc).__name__}: {exc}"},
            )
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

    def upload_spool(self) -> list[UploadedSegment]:
        """Upload spooled segments oldest first; stop at the first failure (store still down)."""
        uploaded: list[UploadedSegment] = []
        for path in self.spooled():
            key = path.relative_to(self.spool_dir).as_posix()
            try:
                rows = pq.read_metadata(path).num_rows
                data = path.read_bytes()
            except (OSError, ValueError) as exc:  # corrupt: set it aside, report it, go on
                bad = path.with_name(path.name + ".bad")
                path.replace(bad)
                log.error(
                    "spooled segment unreadable; set aside",
                    extra={"path": str(bad), "error": str(exc)},
                )
                continue
            try:
                self.store.write_bytes(key, data)
            except Exception as exc:  # noqa: BLE001 - store still unreachable: retry later
                log.info(
                    "store still unreachable; segments stay spooled",
                    extra={"spooled": len(self.spooled()), "error": type(exc).__name__},
                )
                break
            path.unlink(missing_ok=True)
            uploaded.append(UploadedSegment(key, rows))
        if uploaded:
            log.info(
                "uploaded spooled segments",
                extra={"segments": len(uploaded), "rows": sum(u.rows for u in uploaded)},
            )
        return uploaded
