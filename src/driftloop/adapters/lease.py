"""Single-flight lease in the object store (``locks/<name>.json``) with an expiry.

A crashed holder does not block the next one forever: once ``expires_at`` has passed, the
next caller takes the lease over. A holder renews while it works. The takeover re-reads the
stale lease and only removes it if it is still the same one it judged stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError


@dataclass
class Lease:
    """A held lease."""

    store: ObjectStore
    name: str
    holder: str
    ttl_s: float
    acquired_at: float
    took_over: dict[str, Any] | None = None
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return lease_key(self.name)

    def body(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "acquired_at": self.acquired_at,
            "expires_at": time.time() + self.ttl_s,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }

    def renew(self) -> None:
        """Push the expiry forward (only while this holder still owns the lease)."""
        current = read_lease(self.store, self.name)
        if current is not None and current.get("holder") == self.holder:
            self.store.write_json(self.key, self.body())

    def keep_alive(self, every_s: float | None = None) -> None:
        """Renew in a background thread until released."""
        self._stop = threading.Event()
        interval = every_s or max(self.ttl_s / 3, 1.0)

        def loop() -> None:
            assert self._stop is not None
            while not self._stop.wait(interval):
                # the store may blink; the next renewal tries again
                with contextlib.suppress(OSError):
                    self.renew()

        self._thread = threading.Thread(target=loop, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Give the lease up (only if this holder still owns it).

        The renewal thread is stopped and waited for first: a renewal already past its
        ownership check would otherwise write the lease back after the delete, and it would
        block the next holder until it expired.
        """
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        current = read_lease(self.store, self.name)
        if current is not None and current.get("holder") == self.holder:
            self.store.delete(self.key)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease_key(name: str) -> str:
    """Store key of a lease."""
    return f"locks/{name}.json"


def read_lease(store: ObjectStore, name: str) -> dict[str, Any] | None:
    """The current lease body, or None."""
    try:
        return dict(store.read_json(lease_key(name)))
    except NotFoundError:
        return None


def acquire_lease(
    store: ObjectStore, name: str, ttl_s: float, holder: str | None = None
) -> Lease | None:
    """Take the lease, or None when someone else holds an unexpired one."""
    lease = Lease(store, name, holder or uuid.uuid4().hex, ttl_s, time.time())
    data = json.dumps(lease.body()).encode()
    if store.create_exclusive(lease.key, data):
        return lease
    current = read_lease(store, name)
    if current is not None and float(current.get("expires_at", 0)) > time.time():
        return None
    # stale (or vanished): re-check it is the same stale lease, remove it, try once more
    again = read_lease(store, name)
    if again is not None and again != current:
        return None
    if again is not None:
        store.delete(lease.key)
    if store.create_exclusive(lease.key, json.dumps(lease.body()).encode()):
        lease.took_over = current
        return lease
    return None
