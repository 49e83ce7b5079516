"""The in-server drift monitor: every N newly logged rows, a drift check in the background.

It never runs on the request path: the prediction log's flush reports how many rows it
wrote, and once a window of ``every_rows`` logged rows is complete and no check has covered
it, the monitor hands a check of the newest rows to its checker (``serve.window_check``:
the same decision code as ``driftloop detect --emit``). By default the checker is the
monitor's worker process (``serve.check_worker``, ``server.monitor_process``), so a check's
CPU never holds the server's interpreter lock; off, it runs in a thread of the server at a
lower CPU priority.

Every window is covered: a check reads all rows logged since the previous one (at least
the spec's ``window_rows``), so when checks fall behind (``min_interval_s``, a slow
store) several due windows are checked together, *coalesced*, and counted as such in
``/drift`` and ``/metrics``. Only a backlog beyond ``MAX_WINDOW_ROWS`` is skipped, and
counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from driftloop.config.settings import Settings
from driftloop.core.loop_facts import estimate_facts
from driftloop.serve.window_check import CheckOutcome, CheckRequest, WindowChecker, lower_priority

log = logging.getLogger("driftloop.monitor")
MAX_WINDOW_ROWS = 200_000
"""Largest window one check reads into memory (``jobs.detect.STREAM_ROWS``)."""
EARLY_ROWS = MAX_WINDOW_ROWS // 2
"""Rows waiting after which a check starts without waiting out the minimum interval (at
thousands of requests a second per process, 30 s of rows come near ``MAX_WINDOW_ROWS``)."""
INTERVAL_POLL_S = 0.5
"""How often a check waiting for its interval looks at the rows waiting."""


class Checker(Protocol):
    """Where checks run: ``WindowChecker`` (this process) or ``ProcessChecker`` (a worker)."""

    def start(self) -> None: ...

    def check(self, request: CheckRequest) -> CheckOutcome: ...

    def stop(self) -> None: ...

    def where(self) -> dict[str, Any]: ...


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
        checker: Checker | None = None,
    ) -> None:
        self.settings = settings
        self.holder = holder
        self.store = store
        self.checker: Checker = checker or WindowChecker(settings, store, tracker)
        self.coverage = Coverage()
        self.every_rows = every_rows
        self.min_interval_s = min_interval_s
        self.gauges = gauges
        self._last_start: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._attempted = 0
        """Rows logged when the latest check started (covered or failed)."""
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
            before = self.coverage.rows_logged // self.every_rows
            self.coverage.rows_logged += rows
            new = self.coverage.rows_logged // self.every_rows - before
            self.coverage.windows_due += new
            due = self._owed()
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
        self._thread = threading.Thread(target=self._run_guarded, name="drift-monitor", daemon=True)
        self._thread.start()
        return True

    def delay_s(self, now: float) -> float:
        """How long a check due now waits for the minimum interval: not at all once the
        rows waiting reach ``EARLY_ROWS`` (waiting on would make a window too large to read,
        and its rows would be skipped)."""
        if self._last_start is None:
            return 0.0
        upto, since = self.backlog()
        if upto - since >= EARLY_ROWS:
            return 0.0
        return max(0.0, self._last_start + self.min_interval_s - now)

    def _wait_interval(self) -> bool:
        """Wait out the minimum interval (re-judged as rows arrive); True when stopped."""
        while (delay := self.delay_s(time.monotonic())) > 0:
            if self._stop.wait(min(delay, INTERVAL_POLL_S)):
                return True
        return self._stop.is_set()

    def start(self) -> None:
        """Get the checker ready ahead of the first check (the server's start-up)."""
        if self.every_rows > 0:
            self.checker.start()

    def stop(self) -> None:
        """Cancel a check that is waiting for its interval (shutdown)."""
        self._stop.set()
        self.checker.stop()

    def _run_guarded(self) -> None:
        lower_priority()
        try:
            if self._wait_interval():
                return
            self._last_start = time.monotonic()
            with self._lock:
                self._attempted = self.coverage.rows_logged
            self.run_once()
        except Exception as exc:  # a failed check must not kill the server; it is reported
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("drift check failed")
        finally:
            self._running.release()
        # windows that came due while this check ran are owed a check of their own
        with self._lock:
            due = self._owed()
        if due:
            self.trigger()

    def _owed(self) -> bool:  # holds self._lock
        """Whether a due window is not covered yet: its last row is logged, and no check
        covered it (a check covers the rows logged before it started). Counted by window, not
        by rows since the last check: a window whose rows straddle a check's start is owed
        a check as soon as it is complete, not only once ``every_rows`` more rows arrive.
        The windows of a check that failed are owed again only with the next window (which
        then covers them too): a failing check is not retried in a loop."""
        every = self.every_rows
        done = max(self.coverage.rows_covered, self._attempted)
        return every > 0 and self.coverage.rows_logged // every > done // every

    def run_once(self) -> dict[str, Any]:
        """Check the rows logged since the previous check (in the checker)."""
        model = self.holder.current if self.holder is not None else None
        if model is None:
            raise RuntimeError("no model is serving: nothing to check against")
        upto, since = self.backlog()
        backlog = upto - since
        rows = min(max(self.spec.drift.window_rows, backlog), MAX_WINDOW_ROWS)
        champion = getattr(self.holder, "champion_version", None)
        outcome = self.checker.check(CheckRequest(model.info, champion, rows))
        self.count_covered(upto, since, backlog > MAX_WINDOW_ROWS)
        if outcome.local_event is not None and not self._stop.is_set():
            self._run_locally(outcome.local_event)
        self._record(outcome.summary)
        return outcome.summary

    def _run_locally(self, event: dict[str, Any]) -> None:
        """Start the local retrain of an event the check's local receiver accepted (from this
        thread: the retrain gets the server's priority, not the worker's)."""
        from driftloop.events.delivery import run_accepted_locally
        from driftloop.events.model import DriftEvent

        run_accepted_locally(DriftEvent.model_validate(event), self.settings, self.store)

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
