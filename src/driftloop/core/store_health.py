"""When to try a failing object store again: exponential back-off, no I/O.

While the store fails, every attempt costs the S3 client's own retries (1.5–2.5 s here) and
rows pile up in memory meanwhile. After a failure, writers therefore skip the store and
spool straight to disk until ``retry_at``; the next attempt (uploading the oldest spooled
segment) is the probe. Each failed probe doubles the wait, up to ``max_backoff_s``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StoreHealth:
    """The store's state as writers saw it: up, or down until a retry is due."""

    min_backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    down_since: float | None = None
    retry_at: float = 0.0
    backoff_s: float = 0.0
    failures: int = 0

    @property
    def down(self) -> bool:
        """True from a failed attempt until a successful one."""
        return self.down_since is not None

    def should_try(self, now: float) -> bool:
        """Whether an attempt on the store is worth its cost now."""
        return self.down_since is None or now >= self.retry_at

    def failed(self, now: float) -> None:
        """An attempt failed: wait longer before the next one."""
        self.failures += 1
        self.backoff_s = min(
            self.max_backoff_s, self.backoff_s * 2 if self.backoff_s else self.min_backoff_s
        )
        self.retry_at = now + self.backoff_s
        if self.down_since is None:
            self.down_since = now

    def succeeded(self) -> None:
        """An attempt worked: the store is up."""
        self.down_since = None
        self.retry_at = 0.0
        self.backoff_s = 0.0
