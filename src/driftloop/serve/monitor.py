"""The in-server drift monitor: every N newly logged rows, a drift check in the background.

It never runs on the request path: the prediction log's flush reports how many rows it
wrote, and once ``every_rows`` have accumulated a worker thread (at a lower CPU priority)
checks the newest rows in-process with the same decision code as ``driftloop detect
--emit`` (``jobs.detect.judge_window``, ``record_check``, ``emit_for``): report in the
store, policy decision, signed event. The reference's statistics (sorted values, category
counts) are prepared once per model version and kept; a check then costs milliseconds.
The Evidently HTML is rendered off the decision path: in the background for drifted
windows, on demand (``GET /reports/{id}``) for the rest.

Every window is covered: a check reads all rows logged since the previous one (at least
the spec's ``window_rows``), so when checks fall behind (``min_interval_s``, a slow
store) several due windows are checked together, *coalesced*, and counted as such in
``/drift`` and ``/metrics``. Only a backlog beyond ``MAX_WINDOW_ROWS`` is skipped, and
counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from driftloop.config.settings import Settings
from driftloop.core.loop_facts import estimate_facts

log = logging.getLogger("driftloop.monitor")
MAX_WINDOW_ROWS = 200_000
"""Largest window one check reads into memory (``jobs.detect.STREAM_ROWS``)."""
LOW_PRIORITY = 10
"""nice increment of the worker threads: a check yields the cores to serving."""


def _lower_priority() -> None:
    """Lower this thread's CPU priority (Linux: each thread has its own nice value)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)


@dataclass
class Coverage:
    """Windows due (every ``every_rows`` logged rows) and what became of them."""

    windows_due: int = 0
    windows_covered: int = 0
    windows_coalesced: int = 0
    """Due windows checked together with the next one (the monitor was behind)."""
    windows_skipped: int = 0
    rows_logged: int = 0
    rows_covered: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Reference:
    version: str
    dataset_version: str
    frame: pd.DataFrame
    prepared: Any


class DriftMonitor:
    """Counts logged rows and runs a drift check every ``every_rows`` of them."""

    def __init__(
        self,
        settings: Settings,
        tracker: Any,
        every_rows: int,
        gauges: Any = None,
        min_interval_s: float = 0.0,
        store: Any = None,
        holder: Any = None,
    ) -> None:
        self.settings = settings
        self.tracker = tracker
        self.store = store
        self.holder = holder
        self.coverage = Coverage()
        self._reference: _Reference | None = None
        self._html = ThreadPoolExecutor(1, thread_name_prefix="drift-html",
                                        initializer=_lower_priority)  # fmt: skip
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
            before = self.coverage.rows_logged // self.every_rows
            self.coverage.rows_logged += rows
            new = self.coverage.rows_logged // self.every_rows - before
            self.coverage.windows_due += new
            due = self._pending >= self.every_rows
        if new and self.gauges is not None:
            self.gauges.windows.labels(outcome="due").inc(new)
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
        self._html.shutdown(wait=False, cancel_futures=True)

    def _run_guarded(self) -> None:
        _lower_priority()
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
        """Check the rows logged since the previous check, in this process."""
        from driftloop.jobs.detect import (
            Serving,
            current_window,
            emit_for,
            judge_window,
            record_check,
        )

        started = time.perf_counter()
        model = self.holder.current if self.holder is not None else None
        if model is None:
            raise RuntimeError("no model is serving: nothing to check against")
        reference = self._reference_for(model)
        upto, since = self.backlog()
        backlog = upto - since
        rows = min(max(self.spec.drift.window_rows, backlog), MAX_WINDOW_ROWS)
        current = current_window(self.store, rows, reference.version)
        serving = Serving(model.info, getattr(self.holder, "champion_version", None))
        result = judge_window(self.spec, self.store, self.tracker,
                              (reference.frame, reference.prepared), current, serving,
                              started)  # fmt: skip
        record_check(self.store, self.spec, result, (reference.frame, current), "later", started)
        emit_for(result, self.settings, self.store, source="monitor")
        self.count_covered(upto, since, backlog > MAX_WINDOW_ROWS)
        summary = result.to_dict()
        drifted = result.decision is not None and result.decision.window_drifted
        if result.report_id and drifted and self.settings.server.monitor_report:
            self._html.submit(self._render, result.report_id, reference.frame, current, summary)
        self._record(summary)
        return summary

    def _reference_for(self, model: Any) -> _Reference:
        """The serving version's reference, prepared once per version (rebuilt on reload)."""
        cached = self._reference
        if cached is not None and cached.version == model.version:
            return cached
        from driftloop.adapters.datasets import open_dataset
        from driftloop.jobs.detect import prepare_for

        dataset_version = str(model.info.dataset_version)
        frame = open_dataset(self.store, dataset_version).frame("reference")
        self._reference = _Reference(model.version, dataset_version, frame,
                                     prepare_for(self.spec, frame))  # fmt: skip
        return self._reference

    def backlog(self) -> tuple[int, int]:
        """(rows logged so far, rows the previous checks covered): a check covers the rows
        in between."""
        with self._lock:
            return self.coverage.rows_logged, self.coverage.rows_covered

    def count_covered(self, upto: int, since: int, skipped: bool) -> None:
        """Count the due windows a check of the rows logged from ``since`` to ``upto``
        covered (or skipped): more than one is a coalesced check."""
        every = self.every_rows
        windows = upto // every - since // every if every > 0 else 0
        with self._lock:
            self.coverage.rows_covered = upto
            if skipped:
                self.coverage.windows_skipped += windows
            else:
                self.coverage.windows_covered += windows
                self.coverage.windows_coalesced += max(0, windows - 1)
        if self.gauges is not None and windows:
            self.gauges.windows.labels(outcome="skipped" if skipped else "covered").inc(windows)
            if not skipped and windows > 1:
                self.gauges.windows.labels(outcome="coalesced").inc(windows - 1)

    def _render(
        self,
        report_id: str,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        summary: dict[str, Any],
    ) -> None:
        from driftloop.jobs.report_html import render_html

        try:
            render_html(self.store, self.spec, report_id, (reference, current), summary)
        except Exception:  # the HTML is optional: GET /reports/{id} renders it again
            log.exception("drift report HTML failed", extra={"report_id": report_id})

    def _record(self, summary: dict[str, Any]) -> None:
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
        self.windows = Counter(
            "driftloop_drift_windows",
            "Monitor windows (every monitor_every_rows logged rows) by outcome: due, covered "
            "(checked), coalesced (checked together with the next: the monitor was behind), "
            "skipped (a backlog too large to read).",
            ["outcome"],
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
