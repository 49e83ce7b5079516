"""The monitor's worker process: drift checks beside the server, not inside it.

A check is mostly pandas and numpy work in Python; in a thread of the server it holds the
interpreter lock for its whole length, and every millisecond of it is a millisecond no
request is served (the thread's lower nice value cannot help: the lock, not the core, is what
they share). So the server hands each check to one long-lived process of its own, started
with ``spawn`` (a clean interpreter: forking a process with threads is unsafe), at the lowest
CPU priority (nice 19, and Linux's batch scheduling: it never preempts serving when it wakes).
The worker keeps the reference's prepared statistics per model version, reads the
window from the store itself and sends back only the summary. A worker found dead (killed
between checks) is replaced and the check tried again in the new one; one that dies twice in
a row fails the check, reported like any failed check. It ends with the server (stopped at
shutdown, or on its own when the server is gone).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from driftloop.config.settings import Settings
from driftloop.serve.window_check import CheckRequest, WindowChecker

log = logging.getLogger("driftloop.monitor")
WORKER_NICE = 19
"""The worker's nice value (the lowest priority): it takes the cores serving leaves idle."""
PARENT_POLL_S = 2.0
"""How often the worker looks whether the server that started it is still there."""

_checker: WindowChecker | None = None
"""The worker process's checker, built by ``_start`` (never set in the server process)."""


def _exit_with_parent(parent: int) -> None:
    """End the worker when the server is gone (killed before it could stop the worker)."""
    while True:
        threading.Event().wait(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(0)


def _start(settings: Settings, parent: int) -> None:
    """The worker's start: lower its priority, build its store, tracker and checker."""
    global _checker
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)
    with contextlib.suppress(AttributeError, OSError):  # Linux: never preempt serving on wake-up
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from driftloop.adapters.store import ObjectStore
    from driftloop.jobs.champion import DeferredTracker

    store = ObjectStore.from_settings(settings)

    def build() -> Any:
        from driftloop.adapters.tracking import Tracker

        return Tracker(settings, store)

    _checker = WindowChecker(settings, store, DeferredTracker(settings.model_name, build))


def _check(request: CheckRequest) -> dict[str, Any]:
    assert _checker is not None, "the worker was not started"
    return _checker.check(request)


def _warm() -> int:
    """Import what a check needs before the first one is due; the worker's pid."""
    import driftloop.jobs.detect  # noqa: F401

    return os.getpid()


class ProcessChecker:
    """Runs each check in the worker process (started on first use, restarted after it dies)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.pid: int | None = None
        """The worker's process id, once it has started."""
        self.start_count = 0
        """Workers started so far (more than one: a worker died and was replaced)."""

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                    initargs=(self.settings, os.getpid()),
                )  # fmt: skip
                self.start_count += 1
                self._pool.submit(_warm).add_done_callback(self._note_pid)
            return self._pool

    def start(self) -> None:
        """Start the worker now (in the background) so the first check does not wait for it."""
        self._started()

    def _note_pid(self, future: Any) -> None:
        with contextlib.suppress(Exception):
            self.pid = future.result()

    def check(self, request: CheckRequest) -> dict[str, Any]:
        """One check in the worker. A worker found dead (killed between checks, say) is
        replaced and the check tried once more in the new one."""
        for attempt in (1, 2):
            pool = self._started()
            try:
                return pool.submit(_check, request).result()
            except BrokenProcessPool as exc:
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
                if attempt == 2:
                    raise RuntimeError("the drift-check worker process died twice in a row; "
                                       "the next check starts a new one") from exc  # fmt: skip
                log.warning("drift-check worker process died; starting a new one")
        raise AssertionError("unreachable")

    def where(self) -> dict[str, Any]:
        """Where the checks run (``GET /drift``)."""
        return {"runs_in": "worker process", "pid": self.pid}

    def stop(self) -> None:
        """Stop the worker (a check it is running is abandoned; the server is stopping)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:  # ProcessPoolExecutor has no public way to end a busy worker
            with contextlib.suppress(Exception):
                worker.terminate()
