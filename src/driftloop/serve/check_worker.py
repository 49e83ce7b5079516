"""The monitor's worker process: drift checks beside the server, not inside it.

A check is mostly pandas and numpy work in Python; in a thread of the server it holds the
interpreter lock for its whole length, and every millisecond of it is a millisecond no
request is served (the thread's lower nice value cannot help: the lock, not the core, is what
they share). So the server hands each check to one long-lived process of its own, started
with ``spawn`` (a clean interpreter: forking a process with threads is unsafe), at a low CPU
priority (``server.monitor_nice``, 19 by default, which also puts it in Linux's idle
scheduling class: it runs only on CPU that serving leaves idle, and a serving thread that
wakes on its core takes the core back at once).
The worker keeps the reference's prepared statistics per model version, reads the
window from the store itself and sends back only the summary (and, in local mode, an
accepted event: the server starts its retrain, which would otherwise inherit the worker's
priority). A worker found dead when a check is handed over (killed between checks) is
replaced and the check handed to the new one; a worker that dies during a check fails that
check, reported like any failed check, and the next check covers its rows. It ends with the
server (stopped at shutdown, after which no check starts a worker, or on its own when the
server is gone).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from driftloop.config.settings import Settings
from driftloop.serve.window_check import CheckOutcome, CheckRequest, WindowChecker

log = logging.getLogger("driftloop.monitor")
PARENT_POLL_S = 2.0
"""How often the worker looks whether the server that started it is still there."""
IDLE_CLASS_NICE = 19
"""At this ``server.monitor_nice`` the worker also runs in Linux's idle scheduling class."""

_checker: WindowChecker | None = None
"""The worker process's checker, built by ``_start`` (never set in the server process)."""


def _exit_with_parent(parent: int) -> None:
    """End the worker when the server is gone (killed before it could stop the worker)."""
    while True:
        threading.Event().wait(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(0)


def lower_priority_to(nice: int) -> None:
    """This process's CPU priority: ``nice``, and at 19 (the lowest) Linux's idle scheduling
    class too, which serving preempts the moment it wakes (a nice-19 task of the normal class
    keeps the core for the rest of its slice); a nice value has no effect in the idle class,
    so a lower one stays in the normal class, where it keeps checks up with a host serving
    saturates."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    if nice >= IDLE_CLASS_NICE:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _start(settings: Settings, parent: int) -> None:
    """The worker's start: its logging, its priority, its store, tracker and checker."""
    global _checker
    from driftloop.config.logs import configure_logging

    configure_logging(settings.json_logs, logging.getLevelName(settings.log_level.upper()))
    lower_priority_to(settings.server.monitor_nice)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from driftloop.adapters.store import ObjectStore
    from driftloop.jobs.champion import DeferredTracker

    store = ObjectStore.from_settings(settings)

    @functools.cache
    def build() -> Any:
        from driftloop.adapters.tracking import Tracker

        return Tracker(settings, store)

    _checker = WindowChecker(settings, store, DeferredTracker(settings.model_name, build))


def _check(request: CheckRequest) -> CheckOutcome:
    assert _checker is not None, "the worker was not started"
    try:
        return _checker.check(request)
    except Exception as exc:  # sent back as text: an exception that does not unpickle in the
        # server would break the pool and read as a dead worker
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None


def _warm() -> int:
    """Import what a check needs before the first one is due; the worker's pid."""
    import driftloop.jobs.detect  # noqa: F401

    return os.getpid()


class MonitorStoppedError(RuntimeError):
    """A check asked of a checker that was stopped (the server is shutting down)."""


class ProcessChecker:
    """Runs each check in the worker process (started on first use, replaced when found dead
    between checks)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.pid: int | None = None
        """The worker's process id, once it has started (None while there is none)."""
        self.start_count = 0
        """Workers started so far (more than one: a worker died and was replaced)."""

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise MonitorStoppedError("the drift monitor is stopped")
            if self._pool is None:
                pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                    initargs=(self.settings, os.getpid()),
                )  # fmt: skip
                self._pool, self.pid = pool, None
                self.start_count += 1
                pool.submit(_warm).add_done_callback(lambda f: self._note_pid(pool, f))
            return self._pool

    def start(self) -> None:
        """Start the worker now (in the background) so the first check does not wait for it."""
        self._started()

    def _note_pid(self, pool: ProcessPoolExecutor, future: Any) -> None:
        with contextlib.suppress(Exception), self._lock:
            if self._pool is pool:
                self.pid = future.result()

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool, self.pid = None, None

    def check(self, request: CheckRequest) -> CheckOutcome:
        """One check in the worker. A worker found dead when the check is handed over
        (killed between checks) is replaced and the check handed to the new one; a worker
        that dies during the check fails it (its rows are covered by the next check)."""
        pool = self._started()
        try:
            future = pool.submit(_check, request)
        except BrokenProcessPool:
            self._drop(pool)
            log.warning("drift-check worker process found dead; starting a new one")
            pool = self._started()
            future = pool.submit(_check, request)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._drop(pool)
            if self._closed:
                raise MonitorStoppedError("the drift monitor stopped during the check") from exc
            raise RuntimeError("the drift-check worker process died during the check; the "
                               "next check starts a new one") from exc  # fmt: skip

    def where(self) -> dict[str, Any]:
        """Where the checks run (``GET /drift``)."""
        return {"runs_in": "worker process", "pid": self.pid}

    def stop(self) -> None:
        """Stop the worker (a check it is running is abandoned; the server is stopping); no
        check starts a worker after this."""
        with self._lock:
            self._closed = True
            pool, self._pool, self.pid = self._pool, None, None
        if pool is None:
            return
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:  # ProcessPoolExecutor has no public way to end a busy worker
            with contextlib.suppress(Exception):
                worker.terminate()
