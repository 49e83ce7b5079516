"""The in-server drift monitor: every N newly logged rows, run ``detect`` in the background.

It never runs on the request path: the prediction log's flush reports how many rows it
wrote, and once enough have accumulated a worker thread runs the same detection as
``driftloop detect --emit`` (report in the store, policy decision, signed event). Checks
start at most once per ``min_interval_s``: at thousands of requests a second, 500 rows
arrive every fraction of a second, and back-to-back checks would take a core from serving.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from driftloop.config.settings import Settings
from driftloop.core.loop_facts import estimate_facts

log = logging.getLogger("driftloop.monitor")


def settings_env(settings: Settings) -> dict[str, str]:
    """The DRIFTLOOP_* variables that recreate these settings in a child process."""
    env: dict[str, str] = {}

    def put(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            name = f"{prefix}{key.upper()}"
            if isinstance(value, dict):
                put(name + "__", value)
            elif value is not None:
                env[name] = value.get_secret_value() if hasattr(value, "get_secret_value") \
                    else str(value)  # fmt: skip

    put("DRIFTLOOP_", {k: getattr(settings, k) for k in type(settings).model_fields
                       if k not in ("s3", "server", "webhook")})  # fmt: skip
    for group in ("s3", "server", "webhook"):
        model = getattr(settings, group)
        put(f"DRIFTLOOP_{group.upper()}__",
            {k: getattr(model, k) for k in type(model).model_fields})  # fmt: skip
    return env


def _low_priority() -> list[str]:
    """``nice -n 10`` where there is one: on a busy machine the check yields to serving."""
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


class DriftMonitor:
    """Counts logged rows and runs a drift check every ``every_rows`` of them."""

    def __init__(
        self,
        settings: Settings,
        tracker: Any,
        every_rows: int,
        gauges: Any = None,
        min_interval_s: float = 0.0,
    ) -> None:
        self.settings = settings
        self.tracker = tracker
        self.every_rows = every_rows
        self.min_interval_s = min_interval_s
        self.gauges = gauges
        self._last_start: float | None = None
        self._stop = threading.Event()
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
            from driftloop.config.spec import load_spec

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
        """Start a check in a worker thread unless one is running or waiting; True when started.

        Within ``min_interval_s`` of the previous check's start, the worker waits out the
        rest of the interval first.
        """
        if not self._running.acquire(blocking=False):
            return False
        with self._lock:
            self._pending = 0
        self._thread = threading.Thread(target=self._run_guarded, name="drift-monitor", daemon=True)
        self._thread.start()
        return True

    def delay_s(self, now: float) -> float:
        """How long a check due now waits for the minimum interval."""
        if self._last_start is None:
            return 0.0
        return max(0.0, self._last_start + self.min_interval_s - now)

    def stop(self) -> None:
        """Cancel a check that is waiting for its interval (shutdown)."""
        self._stop.set()

    def _run_guarded(self) -> None:
        try:
            if self._stop.wait(self.delay_s(time.monotonic())):
                return
            self._last_start = time.monotonic()
            self.run_once()
        except Exception as exc:  # a failed check must not kill the server; it is reported
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("drift check failed")
        finally:
            self._running.release()
        # rows that arrived while this check ran are owed a check of their own
        with self._lock:
            due = self.every_rows > 0 and self._pending >= self.every_rows
        if due:
            self.trigger()

    def run_once(self) -> dict[str, Any]:
        """Run one check now: ``driftloop detect --emit`` in a child process.

        A child process, not this one: the check (reading the window, the statistics, the
        Evidently report) holds the interpreter for seconds, which would stall requests. At a
        lower CPU priority, so that it takes the cores only when serving leaves them idle.
        """
        with tempfile.TemporaryDirectory(prefix="driftloop-monitor-") as tmp:
            out = Path(tmp) / "drift.json"
            proc = subprocess.run(
                [*_low_priority(), sys.executable, "-m", "driftloop", "detect", "--emit",
                 "--output", str(out), "--event-source", "monitor",
                 *([] if self.settings.server.monitor_report else ["--no-report"])],
                env={**os.environ, **settings_env(self.settings)},
                capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if proc.returncode not in (0, 3) or not out.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise RuntimeError(f"detect exited {proc.returncode}: {' '.join(tail)}")
            summary: dict[str, Any] = json.loads(out.read_text())
        self.checks += 1
        self.last_error = None
        decision = summary.get("decision") or {}
        drift = summary.get("summary")
        if drift is not None:
            self.history.append({
                "report_id": summary.get("report_id"), "checked_at": summary["checked_at"],
                "drift_share": drift["drift_share"],
                "window_drifted": bool(decision.get("window_drifted")),
                "retrain": bool(decision.get("retrain")),
                "model_version": summary.get("model_version"),
                "rows": (summary.get("window") or {}).get("rows"),
                **estimate_facts(summary.get("estimated_performance"))})  # fmt: skip
            if self.gauges is not None:
                self.gauges.observe_drift(drift["drift_share"], bool(decision.get("retrain")))
                self.gauges.observe_estimate(summary.get("estimated_performance"))
        self.latest = summary  # last: /drift shows a check once /metrics has it too
        log.info("drift checked", extra={"report_id": summary.get("report_id"),
                                          "retrain": decision.get("retrain")})  # fmt: skip
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
        self.estimated = Gauge(
            "driftloop_estimated_performance",
            "The serving model's metrics on the newest checked window, estimated without "
            "labels (calibrated probabilities, or a model of the error).",
            ["metric"], registry=registry,
        )  # fmt: skip
        self.realised = Gauge(
            "driftloop_realised_performance",
            "The same metrics realised on the newest checked window's labelled rows.",
            ["metric"], registry=registry,
        )  # fmt: skip

    def observe_estimate(self, estimate: dict[str, Any] | None) -> None:
        """Record the newest window's estimated and realised metrics (absent ones: cleared)."""
        for gauge, key in ((self.estimated, "estimated"), (self.realised, "realised")):
            gauge.clear()
            for metric, value in ((estimate or {}).get(key) or {}).items():
                if value is not None:
                    gauge.labels(metric=metric).set(value)

    def observe_drift(self, share: float, retrain: bool) -> None:
        """Record one check."""
        self.share.set(share)
        self.checks.labels(decision="retrain" if retrain else "no_retrain").inc()
