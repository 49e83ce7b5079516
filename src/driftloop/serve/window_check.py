"""One in-server drift check of the newest logged rows: what the monitor runs per due window.

The same decision code as ``driftloop detect --emit`` (``jobs.detect.judge_window``,
``record_check``, ``emit_for``): report in the store, policy decision, signed event. The
reference's statistics (sorted values, category counts) are prepared once per model version
and kept; a check then costs milliseconds plus the window's read. The Evidently HTML of a
drifted window is rendered off the decision path, in a background thread.

A ``WindowChecker`` runs wherever it is built: in the server process (a thread) or in the
monitor's worker process (``serve.check_worker``), which keeps the check's CPU off the
server's interpreter lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftloop.config.settings import Settings

log = logging.getLogger("driftloop.monitor")
LOW_PRIORITY = 10
"""nice increment of the checking threads: a check yields the cores to serving."""


def lower_priority() -> None:
    """Lower this thread's CPU priority to at least ``LOW_PRIORITY`` (never raise it: in the
    nice-19 worker a thread stays at 19). Linux: each thread has its own nice value; threads
    and processes it starts later inherit it."""
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(now, LOW_PRIORITY))


@dataclass(frozen=True)
class CheckRequest:
    """What one check needs from the server: the serving version, the champion now (a newer
    one supersedes the decision) and how many of the newest logged rows to read."""

    model: Any
    """The serving version's ``ModelVersionInfo``."""
    champion_now: str | None
    rows: int


@dataclass(frozen=True)
class CheckOutcome:
    """A check's summary, and the drift event the local receiver accepted (JSON) when it is
    left for the server to run (local mode: a retrain started by the worker would inherit its
    lowest CPU priority)."""

    summary: dict[str, Any]
    local_event: dict[str, Any] | None = None


@dataclass
class _Reference:
    version: str
    frame: pd.DataFrame
    prepared: Any


class WindowChecker:
    """Checks windows of the inference log against the serving version's reference."""

    def __init__(self, settings: Settings, store: Any, tracker: Any) -> None:
        self.settings = settings
        self.store = store
        self.tracker = tracker
        self._spec: Any = None
        self._reference: _Reference | None = None
        self._html: ThreadPoolExecutor | None = None

    @property
    def spec(self) -> Any:
        if self._spec is None:
            from driftloop.config.spec import load_spec

            self._spec = load_spec(self.settings.spec)
        return self._spec

    def start(self) -> None:
        """Nothing to start: checks run in the calling thread."""

    def where(self) -> dict[str, Any]:
        """Where the checks run (``GET /drift``)."""
        return {"runs_in": "server thread", "pid": os.getpid()}

    def check(self, request: CheckRequest) -> CheckOutcome:
        """Judge the newest ``request.rows`` rows the serving version logged: the summary,
        and an accepted local event for the caller to run."""
        from driftloop.jobs.detect import (
            Serving,
            current_window,
            emit_for,
            judge_window,
            record_check,
        )

        started = time.perf_counter()
        reference = self._reference_for(request.model)
        current = current_window(self.store, request.rows, reference.version)
        serving = Serving(request.model, request.champion_now)
        result = judge_window(self.spec, self.store, self.tracker,
                              (reference.frame, reference.prepared), current, serving,
                              started)  # fmt: skip
        record_check(self.store, self.spec, result, (reference.frame, current), "later", started)
        receipt = emit_for(result, self.settings, self.store, source="monitor",
                           run_locally=False)  # fmt: skip
        summary = result.to_dict()
        drifted = result.decision is not None and result.decision.window_drifted
        if result.report_id and drifted and self.settings.server.monitor_report:
            self._render_later(result.report_id, reference.frame, current, summary)
        local = (
            receipt is not None and receipt.status == "accepted" and not self.settings.webhook.url
        )
        event = receipt.event if local and receipt is not None else None
        return CheckOutcome(summary, event.model_dump(mode="json") if event else None)

    def _reference_for(self, model: Any) -> _Reference:
        """The serving version's reference, prepared once per version (rebuilt on reload)."""
        cached = self._reference
        if cached is not None and cached.version == model.version:
            return cached
        from driftloop.adapters.datasets import open_dataset
        from driftloop.jobs.detect import prepare_for

        frame = open_dataset(self.store, str(model.dataset_version)).frame("reference")
        self._reference = _Reference(model.version, frame, prepare_for(self.spec, frame))
        return self._reference

    def _render_later(
        self, report_id: str, reference: pd.DataFrame, current: pd.DataFrame, summary: Any
    ) -> None:
        if self._html is None:
            self._html = ThreadPoolExecutor(1, thread_name_prefix="drift-html",
                                            initializer=lower_priority)  # fmt: skip
        self._html.submit(self._render, report_id, reference, current, summary)

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

    def wait_rendered(self) -> None:
        """Wait for the HTML renders queued so far (tests, the worker's shutdown)."""
        if self._html is not None:
            self._html.submit(lambda: None).result()

    def stop(self) -> None:
        """Drop the renders not started yet (shutdown)."""
        if self._html is not None:
            self._html.shutdown(wait=False, cancel_futures=True)
