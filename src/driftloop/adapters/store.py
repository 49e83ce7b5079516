"""The object store: one interface for ``file://`` folders and ``s3://`` buckets (fsspec).

Keys are ``/``-separated paths relative to the store root. Writers never leave a
half-written object visible: local files are written to a temporary name and renamed;
S3 objects are written with one PUT.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from driftloop.config.errors import InputError, NotFoundError
from driftloop.config.settings import Settings
from driftloop.core.store_health import StoreHealth

log = logging.getLogger("driftloop.store")
READY_PROBE = "health/ready-probe"
"""The key ``wait_until_writable`` writes to probe the store."""


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write a local file so that no reader ever sees it half-written: a temporary file in
    the same folder (prefix ``.tmp-``), then a rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class StoreUnavailableError(OSError):
    """The object store could not be reached."""


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "cannot reach the store" (botocore's are not OSErrors)."""
    errors: list[type[BaseException]] = [OSError, ConnectionError]
    try:
        from botocore.exceptions import BotoCoreError

        errors.append(BotoCoreError)
    except ImportError:  # no S3 support installed: only file:// stores
        pass
    return tuple(errors)


class ObjectStore:
    """Read and write objects under one root URL."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.is_local = self.url.startswith("file://") or "://" not in self.url
        opts = dict(storage_options or {})
        if self.is_local:
            self.root = self.url.removeprefix("file://")
            self.fs = fsspec.filesystem("file")
        else:
            protocol, _, self.root = self.url.partition("://")
            self.fs = fsspec.filesystem(protocol, **opts)

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """The store the settings point at, with S3 credentials when it is s3://."""
        opts: dict[str, Any] = {}
        if settings.store.startswith("s3://"):
            s3 = settings.s3
            client_kwargs: dict[str, Any] = {"region_name": s3.region}
            if s3.endpoint_url:
                client_kwargs["endpoint_url"] = s3.endpoint_url
            opts["client_kwargs"] = client_kwargs
            opts["config_kwargs"] = {
                "s3": {"addressing_style": "path"},
                "retries": {"max_attempts": 2, "mode": "standard"},
                "connect_timeout": 3,
                "read_timeout": 10,
            }
            if s3.access_key_id is not None:
                opts["key"] = s3.access_key_id.get_secret_value()
            if s3.secret_access_key is not None:
                opts["secret"] = s3.secret_access_key.get_secret_value()
            opts["skip_instance_cache"] = True
            opts["use_listings_cache"] = False
        return cls(settings.store, opts)

    # -- paths -----------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.root}/{key}" if key else self.root

    def uri(self, key: str) -> str:
        """The full URL of a key."""
        return f"{self.url}/{key.lstrip('/')}"

    @contextlib.contextmanager
    def _reaching(
        self, what: str, answers: tuple[type[OSError], ...] = (FileNotFoundError,)
    ) -> Iterator[None]:
        """Translate a backend error into StoreUnavailableError naming what was tried.

        ``answers`` pass through: errors that answer the question (no such object) rather
        than say the store failed.
        """
        passing: tuple[type[OSError], ...] = (StoreUnavailableError, *answers)
        try:
            yield
        except passing:
            raise
        except _unreachable_errors() as exc:
            raise StoreUnavailableError(f"object store {self.url}: {what}: {exc}") from exc

    # -- basic operations ------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        """True when the object exists."""
        with self._reaching(f"could not check {key}"):
            return bool(self.fs.exists(self._path(key)))

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; NotFoundError when it does not exist."""
        try:
            with self._reaching(f"could not read {key}"), self.fs.open(self._path(key), "rb") as fh:
                return bytes(fh.read())
        except FileNotFoundError as exc:
            raise NotFoundError(f"not in the store: {self.uri(key)}") from exc

    def read_many(self, keys: Sequence[str]) -> builtins.list[bytes]:
        """Several objects' bytes, in order: fetched concurrently on S3 (one call), one by
        one locally; NotFoundError when one does not exist."""
        if self.is_local or len(keys) <= 1:
            return [self.read_bytes(k) for k in keys]
        paths = [self._path(k) for k in keys]
        try:
            with self._reaching(f"could not read {len(keys)} objects from {keys[0]} on"):
                got = self.fs.cat(paths, on_error="raise")
        except FileNotFoundError as exc:
            raise NotFoundError(f"not in the store: {exc}") from exc
        return [bytes(got[p]) for p in paths]

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write an object atomically (temporary file + rename locally, one PUT on S3)."""
        path = self._path(key)
        with self._reaching(f"could not write {self.uri(key)}", answers=()):
            if self.is_local:
                write_file_atomically(Path(path), data)
            else:
                self.fs.pipe_file(path, data)

    def wait_until_writable(
        self,
        timeout_s: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> int:
        """Probe with a small write until the store takes it (server up, bucket there, key
        valid), backing off between tries; the number of failed tries. StoreUnavailableError
        once ``timeout_s`` has passed."""
        if self.is_local:  # a folder on this machine: nothing to wait for, nothing to write
            return 0
        health = StoreHealth(min_backoff_s=1.0, max_backoff_s=15.0)
        deadline = clock() + timeout_s
        while True:
            try:
                self.write_bytes(READY_PROBE, b"ok")
                self.delete(READY_PROBE)  # leaves nothing behind (bad input must write nothing)
                return health.failures
            except StoreUnavailableError as exc:
                health.failed(clock())
                if clock() + health.backoff_s > deadline:
                    raise StoreUnavailableError(
                        f"object store {self.url} still not writable after {timeout_s:.0f} s "
                        f"({health.failures} tries): {exc}"
                    ) from exc
                log.info(
                    "waiting for the object store",
                    extra={"store": self.url, "retry_in_s": health.backoff_s, "error": str(exc)},
                )
                sleep(health.backoff_s)

    def delete(self, key: str) -> None:
        """Delete one object; a missing object is not an error."""
        with self._reaching(f"could not delete {key}"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def modified(self, key: str) -> datetime | None:
        """When the object was last written (UTC); None when it is gone or the backend
        does not say."""
        try:
            with self._reaching(f"could not stat {key}"):
                stamp = self.fs.modified(self._path(key))
        except (NotImplementedError, FileNotFoundError):
            return None
        if not isinstance(stamp, datetime):
            return None
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)

    def read_url(self, url: str) -> bytes:
        """An object outside the root but on the same backend (another bucket or prefix),
        read with this store's endpoint, credentials and timeouts; NotFoundError when absent.

        InputError for a URL of another backend: it would be read without any of them.
        """
        protocol, sep, path = url.partition("://")
        own = "file" if self.is_local else self.url.partition("://")[0]
        if not sep or protocol != own:
            raise InputError(f"{url} is not on the object store's backend ({own}://)")
        try:
            with self._reaching(f"could not read {url}"), self.fs.open(path, "rb") as fh:
                return bytes(fh.read())
        except FileNotFoundError as exc:
            raise NotFoundError(f"not found: {url}") from exc

    def list(self, prefix: str) -> list[str]:
        """Keys of every object under a prefix, sorted."""
        base = self._path(prefix).rstrip("/")
        try:
            with self._reaching(f"could not list {prefix}"):
                found = self.fs.find(base)
        except FileNotFoundError:
            return []
        root = self.root.rstrip("/") + "/"
        keys = []
        for p in found:
            p = str(p)
            key = p[len(root) :] if p.startswith(root) else p
            if not Path(key).name.startswith(".tmp-"):
                keys.append(key)
        return sorted(keys)

    def children(self, prefix: str) -> builtins.list[str]:
        """Names of the objects and folders directly under a prefix, sorted: one listing
        call however much lies deeper (what date-partitioned readers walk)."""
        base = self._path(prefix).rstrip("/")
        try:
            with self._reaching(f"could not list {prefix}"):
                found = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        paths = {str(p).rstrip("/") for p in found} - {base}  # an object lists itself
        names = {p.rsplit("/", 1)[-1] for p in paths}
        return sorted(n for n in names if not n.startswith(".tmp-"))

    def iter_prefix(self, prefix: str, suffix: str = "") -> Iterator[str]:
        """Keys under a prefix that end with a suffix."""
        for key in self.list(prefix):
            if key.endswith(suffix):
                yield key

    # -- typed helpers ---------------------------------------------------------------------
    def read_json(self, key: str) -> Any:
        """Decode a JSON object."""
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, obj: Any) -> None:
        """Write a JSON object (sorted keys, indented)."""
        self.write_bytes(key, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def read_parquet(self, key: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read a Parquet object (those of its ``columns`` it has) into a frame."""
        data = io.BytesIO(self.read_bytes(key))
        if columns is None:
            return pq.read_table(data).to_pandas()
        parquet = pq.ParquetFile(data)
        present = set(parquet.schema_arrow.names)
        return parquet.read(columns=[c for c in columns if c in present]).to_pandas()

    def write_parquet(self, key: str, frame: pd.DataFrame | pa.Table) -> bytes:
        """Write a frame as Parquet; returns the bytes written (for checksums)."""
        table = (
            frame
            if isinstance(frame, pa.Table)
            else pa.Table.from_pandas(frame, preserve_index=False)
        )
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        self.write_bytes(key, data)
        return data

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write an object only if it does not exist yet; True when this call created it.

        Locally this is atomic (a hard link fails when the name exists); on S3 it is a
        conditional PUT (If-None-Match) where the server supports it, else check-then-PUT.
        """
        path = self._path(key)
        if self.is_local:
            with self._reaching(f"could not create {key}", answers=()):
                return _link_new(Path(path), data)
        if self.exists(key):
            return False
        try:
            with self._reaching(f"could not create {key}", answers=(FileExistsError,)):
                self.fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            return False
        except TypeError:  # an s3fs without conditional writes
            self.write_bytes(key, data)
        return True


def _link_new(path: Path, data: bytes) -> bool:
    """Write a file only if its name is free (a hard link fails when it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
