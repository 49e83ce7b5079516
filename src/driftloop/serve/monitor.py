"""The in-server drift monitor: every N newly logged rows, run ``detect`` in the background.

It never runs on the request path: the prediction log's flush reports how many rows it
wrote, and once enough have accumulated a worker thread runs the same detection as
``driftloop detect --emit`` (report in the store, policy decision, signed event).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from driftloop.settings import Settings
from driftloop.store import ObjectStore

log = logging.getLogger("driftloop.monitor")


class DriftMonitor:
    """Counts logged rows and runs a drift check every ``every_rows`` of them."""

    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        tracker: Any,
        every_rows: int,
        gauges: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tracker = tracker
        self.every_rows = every_rows
        self.gauges = gauges
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._spec: Any = None
        self.latest: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.checks = 0
        self.history: deque[dict[str, Any]] = deque(maxlen=200)

    @property
    def spec(self) -> Any:
        if self._spec is None:
            from driftloop.spec import load_spec

            self._spec = load_spec(self.settings.spec)
        return self._spec

    def on_flush(self, rows: int) -> None:
        """Called by the prediction log after each flush (from its background task)."""
        if self.every_rows <= 0:
            return
        with self._lock:
            self._pending += rows
            due = self._pending >= self.every_rows
        if due:
            self.trigger()

    def trigger(self) -> bool:
        """Start a check in a worker thread unless one is running; True when started."""
        if not self._running.acquire(blocking=False):
            return False
        with self._lock:
            self._pending = 0
        self._thread = threading.Thread(target=self._run_guarded, name="drift-monitor", daemon=True)
        self._thread.start()
        return True

    def _run_guarded(self) -> None:
        try:
            self.run_once()
        except Exception as exc:  # a failed check must not kill the server; it is reported
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("drift check failed")
        finally:
            self._running.release()

    def run_once(self) -> dict[str, Any]:
        """Run one check now (in the calling thread) and emit an event on a retrain decision."""
        from driftloop.jobs.detect import detect_drift, emit_for

        result = detect_drift(self.settings, self.spec, self.store, self.tracker)
        receipt = emit_for(result, self.settings, self.store, source="monitor")
        summary = result.to_dict()
        if receipt is not None and receipt.event is not None:
            summary["event"] = {
                "event_id": receipt.event.event_id,
                "status": receipt.status,
                "reason": receipt.reason,
            }
        self.checks += 1
        self.latest = summary
        self.last_error = None
        if result.summary is not None:
            self.history.append(
                {
                    "report_id": result.report_id,
                    "checked_at": summary["checked_at"],
                    "drift_share": result.summary.drift_share,
                    "window_drifted": bool(result.decision and result.decision.window_drifted),
                    "retrain": result.retrain,
                    "model_version": result.model_version,
                    "rows": result.window.rows,
                }
            )
            if self.gauges is not None:
                self.gauges.observe_drift(result.summary.drift_share, result.retrain)
        return summary

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running check to finish (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)


class DriftGauges:
    """Prometheus metrics of the monitor, in the service's registry."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.share = Gauge(
            "driftloop_drift_share",
            "Share of drifted features in the newest checked window.",
            registry=registry,
        )
        self.checks = Counter(
            "driftloop_drift_checks",
            "Drift checks by decision (retrain / no_retrain).",
            ["decision"],
            registry=registry,
        )

    def observe_drift(self, share: float, retrain: bool) -> None:
        """Record one check."""
        self.share.set(share)
        self.checks.labels(decision="retrain" if retrain else "no_retrain").inc()
