"""The in-server drift monitor: checks in the background every N logged rows, emits a
signed event on a retrain decision, and serves /drift and the reports."""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from driftloop.core.signing import SIGNATURE_HEADER, verify_signature
from driftloop.serve.check_worker import PARENT_POLL_S

from ..support.metrics import metric
from ..support.processes import free_port, wait_until
from ..support.state import auth, sample_records, serve_env

pytestmark = pytest.mark.e2e


class Webhook:
    """A stand-in webhook on 127.0.0.1 that records the signed deliveries it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((body, self.headers.get(SIGNATURE_HEADER)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


def test_monitor_detects_drift_emits_event_and_serves_reports(fresh_state, server_factory):
    trained_state = fresh_state  # its inference log holds only this test's traffic
    hook = Webhook()
    try:
        env = serve_env(
            trained_state,
            monitor_every_rows=300,
            monitor_min_interval_s=0,
            log_flush_interval_s=0.5,
            reload_interval_s=0,
        )
        env |= {
            "DRIFTLOOP_WEBHOOK__URL": f"http://127.0.0.1:{hook.port}/drift-detected",
            "DRIFTLOOP_WEBHOOK__SECRET": "test-only-webhook-secret",
        }
        server = server_factory(env)
        with server.client() as client:
            assert client.get("/drift").json()["status"] == "no drift check yet"
            records, _ = sample_records(trained_state, 300)
            for rec in records:
                assert client.post("/predict", json=rec).status_code == 200
            first = wait_until(
                lambda: (d := client.get("/drift").json()).get("report_id") and d, timeout=120
            )
            assert first["decision"]["retrain"] is False
            assert hook.received == []
            coverage = first["coverage"]  # 300 rows, one window, checked in this process
            assert coverage["windows_due"] == 1 and coverage["windows_covered"] == 1
            # not drifted: no HTML yet, rendered on demand from the rows the check kept
            html = client.get(f"/reports/{first['report_id']}")
            assert html.status_code == 200 and "<html" in html.text.lower()

            sent = client.post(
                "/simulate-drift", json={"drift_type": "numerical_shift", "n": 600}, headers=auth()
            )
            assert sent.status_code == 200
            drifted = wait_until(
                lambda: (
                    (d := client.get("/drift").json())["report_id"] != first["report_id"]
                    and d["decision"]["retrain"]
                    and d
                ),
                timeout=120,
            )
            assert "monthly_charges" in drifted["summary"]["drifted_features"]
            assert drifted["event"]["status"] == "accepted"
            metrics = client.get("/metrics").text
            assert metric(metrics, "driftloop_drift_checks_total", decision="retrain") >= 1
            assert metric(metrics, "driftloop_drift_windows_total", outcome="covered") >= 1
            coverage = client.get("/drift").json()["coverage"]
            assert (
                coverage["windows_covered"] + coverage["windows_skipped"] <= coverage["windows_due"]
            )
            assert coverage["windows_due"] == 3  # 900 rows, every 300
            assert 0 <= metric(metrics, "driftloop_drift_share") <= 1
            html = client.get(f"/reports/{drifted['report_id']}")
            assert html.status_code == 200 and "monthly_charges" in html.text
            latest = client.get("/reports/latest", follow_redirects=False)
            assert latest.status_code == 307
            assert client.get("/reports/../../etc").status_code == 404
            listed = client.get("/reports").json()
            assert {r["report_id"] for r in listed} >= {first["report_id"], drifted["report_id"]}
        body, signature = hook.received[0]
        assert verify_signature(body, signature, "test-only-webhook-secret")
        event = json.loads(body)
        assert event["source"] == "monitor" and event["report_id"] == drifted["report_id"]
        assert len(hook.received) == 1  # one episode, one event (cool-down)
    finally:
        hook.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is gone
    except (ProcessLookupError, FileNotFoundError):  # gone (or reaped meanwhile)
        return False


def _checked(client, after: int) -> dict:
    """/drift once more than ``after`` checks ran in the server (a failed one fails here)."""
    drift = wait_until(
        lambda: (d := client.get("/drift").json()).get("checks_in_this_process", 0) > after and d,
        timeout=120,
    )
    assert drift["last_error"] is None, drift["last_error"]
    return drift


@pytest.mark.parametrize("in_process", [False, True], ids=["worker-process", "server-thread"])
def test_checks_run_in_a_worker_process_that_is_replaced_when_killed(
    module_state, server_factory, in_process
):
    env = serve_env(module_state, monitor_every_rows=200, monitor_min_interval_s=0,
                    log_flush_interval_s=0.3, reload_interval_s=0,
                    monitor_process=str(not in_process).lower())  # fmt: skip
    server = server_factory(env)
    records, _ = sample_records(module_state, 400)
    with server.client() as client:
        for rec in records[:200]:
            assert client.post("/predict", json=rec).status_code == 200
        first = _checked(client, 0)
        where = first["checker"]
        if in_process:
            assert where == {"runs_in": "server thread", "pid": server.proc.pid}
            return
        assert where["runs_in"] == "worker process"
        worker = where["pid"]
        assert worker != server.proc.pid and _alive(worker)
        os.kill(worker, signal.SIGKILL)  # a worker lost between checks (the OOM killer, say)
        wait_until(lambda: not _alive(worker), timeout=30)
        for rec in records[200:]:
            assert client.post("/predict", json=rec).status_code == 200
        second = _checked(client, 1)  # the same check, in a new worker: nothing missed
        assert second["checker"]["pid"] not in (None, worker)
        assert second["coverage"]["windows_covered"] == second["coverage"]["windows_due"] == 2
        replacement = second["checker"]["pid"]
    assert server.stop()
    # stopped with the server, not left to notice on its own (that takes PARENT_POLL_S)
    wait_until(lambda: not _alive(replacement), timeout=PARENT_POLL_S * 0.75)


def test_the_worker_ends_when_the_server_is_killed(module_state, server_factory):
    """A server killed outright cannot stop its worker: the worker notices and exits."""
    server = server_factory(serve_env(module_state, monitor_every_rows=200, reload_interval_s=0))
    with server.client() as client:  # started with the server, before any traffic
        worker = wait_until(lambda: client.get("/drift").json()["checker"]["pid"], timeout=60)
    assert _alive(worker)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(30)
    wait_until(lambda: not _alive(worker), timeout=30)


@pytest.mark.parametrize(("nice", "policy"), [(19, "SCHED_IDLE"), (5, "SCHED_OTHER")])
def test_the_worker_runs_at_the_configured_priority(tmp_path, nice, policy):
    """At nice 19 (the default) the worker is in Linux's idle scheduling class, which serving
    preempts on wake-up; a lower nice keeps it in the normal class, where nice counts."""
    from driftloop.config.settings import Settings
    from driftloop.serve.check_worker import ProcessChecker

    settings = Settings(store_url=(tmp_path / "store").as_uri(), server={"monitor_nice": nice})
    checker = ProcessChecker(settings)
    checker.start()
    try:
        pid = wait_until(lambda: checker.pid, timeout=60)
        assert os.sched_getscheduler(pid) == getattr(os, policy)
        # raising priority needs privilege: a test run at a higher nice keeps its own
        assert os.getpriority(os.PRIO_PROCESS, pid) == max(nice, os.getpriority(os.PRIO_PROCESS, 0))
    finally:
        checker.stop()


def test_a_stopped_checker_starts_no_worker():
    """After the server's shutdown stops it, a check that was about to start gets an error
    instead of a new worker (a worker started then would run after the server is gone)."""
    from driftloop.config.settings import Settings
    from driftloop.serve.check_worker import MonitorStoppedError, ProcessChecker
    from driftloop.serve.window_check import CheckRequest

    checker = ProcessChecker(Settings())
    checker.stop()
    with pytest.raises(MonitorStoppedError):
        checker.check(CheckRequest(model=None, champion_now=None, rows=10))
    assert checker.start_count == 0 and checker.where()["pid"] is None


def test_a_shutdown_during_a_check_abandons_it_and_starts_no_new_worker(tmp_path):
    """The server stops while the worker is inside a check (here blocked reading a reference
    that is a FIFO nobody writes): the check fails as stopped, the worker is ended at once,
    and the check is not run again in a new worker."""
    import threading

    from driftloop.adapters.tracking import ModelVersionInfo
    from driftloop.config.settings import Settings
    from driftloop.serve.check_worker import MonitorStoppedError, ProcessChecker
    from driftloop.serve.window_check import CheckRequest

    folder = tmp_path / "store" / "datasets" / "v1"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    os.mkfifo(folder / "reference.parquet")  # opening it blocks until a writer comes
    checker = ProcessChecker(Settings(store_url=(tmp_path / "store").as_uri()))
    model = ModelVersionInfo("m", "1", None, "", {"dataset_version": "v1"})
    raised: list[BaseException] = []

    def run() -> None:
        try:
            checker.check(CheckRequest(model, "1", 10))
        except BaseException as exc:  # noqa: BLE001 - what the check ended with is the subject
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    worker = wait_until(lambda: checker.pid, timeout=120)
    writer: list[int] = []

    def reading() -> bool:  # a writer can open a FIFO without blocking only once it has a reader
        try:
            writer.append(os.open(folder / "reference.parquet", os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return False
        return True  # the worker now waits for bytes that never come

    try:
        wait_until(reading, timeout=120)
        checker.stop()
        thread.join(30)
    finally:
        for fd in writer:
            os.close(fd)
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], MonitorStoppedError), raised
    assert checker.start_count == 1
    wait_until(lambda: not _alive(worker), timeout=PARENT_POLL_S * 0.75)


class RecordingMonitor:
    """A DriftMonitor whose check only records when it started (the schedule is the subject)."""

    @staticmethod
    def make(min_interval_s: float):
        import time

        from driftloop.config.settings import Settings
        from driftloop.serve.monitor import DriftMonitor

        class Recording(DriftMonitor):
            starts: list[float] = []

            def run_once(self):
                self.starts.append(time.monotonic())
                self.count_covered(*self.backlog(), skipped=False)
                return {}

        return Recording(Settings(), tracker=None, every_rows=10,
                         min_interval_s=min_interval_s)  # fmt: skip


def test_checks_start_at_most_once_per_minimum_interval():
    monitor = RecordingMonitor.make(min_interval_s=0.5)
    monitor.on_flush(10)
    monitor.wait(5)
    monitor.on_flush(10)  # due again at once: waits out the interval
    assert not monitor.trigger()  # one check at a time, waiting ones included
    monitor.wait(5)
    assert len(monitor.starts) == 2
    assert monitor.starts[1] - monitor.starts[0] >= 0.5
    assert monitor.delay_s(monitor.starts[1]) == pytest.approx(0.5, abs=0.05)


def test_a_waiting_check_is_cancelled_at_shutdown():
    monitor = RecordingMonitor.make(min_interval_s=60)
    monitor.on_flush(10)
    monitor.wait(5)
    monitor.on_flush(10)
    monitor.stop()
    monitor.wait(5)
    assert len(monitor.starts) == 1


def test_a_backlog_near_what_one_check_can_read_starts_the_check_early():
    """At a high request rate the minimum interval would let a window grow past what one
    check reads (its rows would be skipped): from ``EARLY_ROWS`` rows on the check starts at
    once."""
    import time

    from driftloop.serve.monitor import EARLY_ROWS, INTERVAL_POLL_S

    monitor = RecordingMonitor.make(min_interval_s=60)
    monitor.every_rows = 1000
    monitor.on_flush(1000)  # the first check: at once
    monitor.wait(5)
    monitor.on_flush(1000)  # due, but within the interval: waits
    time.sleep(INTERVAL_POLL_S * 2)
    assert len(monitor.starts) == 1
    monitor.on_flush(EARLY_ROWS)  # the rows waiting reach EARLY_ROWS: no more waiting
    monitor.wait(5)
    assert len(monitor.starts) == 2
    assert monitor.starts[1] - monitor.starts[0] < 10
    cov = monitor.coverage
    assert cov.windows_skipped == 0 and cov.windows_covered == cov.windows_due
    monitor.stop()


def test_windows_due_while_a_check_waits_are_coalesced_and_counted():
    monitor = RecordingMonitor.make(min_interval_s=0.3)
    monitor.on_flush(10)  # due: checked at once
    monitor.wait(5)
    for _ in range(3):  # three more windows due while the next check waits its interval
        monitor.on_flush(10)
    monitor.wait(5)
    monitor.on_flush(5)  # half a window: not due
    cov = monitor.coverage
    assert len(monitor.starts) == 2
    assert (cov.windows_due, cov.windows_covered, cov.windows_coalesced) == (4, 4, 2)
    assert (cov.rows_logged, cov.rows_covered, cov.windows_skipped) == (45, 40, 0)


def test_a_window_completed_after_a_check_started_is_checked_without_more_rows():
    """A check that starts mid-window covers the rows logged before it; the rest of that
    window, once complete, is owed a check then, not only after ``every_rows`` more rows
    (traffic that stops there would leave it unchecked)."""
    monitor = RecordingMonitor.make(min_interval_s=0)
    monitor.on_flush(15)  # one window due; the check covers 15 rows (half of the second)
    monitor.wait(5)
    monitor.on_flush(3)  # 18: the second window is not complete
    monitor.wait(5)
    assert len(monitor.starts) == 1
    monitor.on_flush(4)  # 22: the second window is complete, only 7 rows after the check
    monitor.wait(5)
    cov = monitor.coverage
    assert len(monitor.starts) == 2
    assert (cov.windows_due, cov.windows_covered, cov.rows_covered) == (2, 2, 22)


def test_a_failing_check_is_not_retried_until_another_window_is_due():
    """A check that fails (no model serving, say) leaves its windows uncovered: the next
    window's check covers them, but nothing retries in a loop meanwhile."""
    import time

    from driftloop.config.settings import Settings
    from driftloop.serve.monitor import DriftMonitor

    class Failing(DriftMonitor):
        attempts = 0

        def run_once(self):
            self.attempts += 1
            raise RuntimeError("no model is serving")

    monitor = Failing(Settings(), tracker=None, every_rows=10, min_interval_s=0)
    monitor.on_flush(15)
    monitor.wait(5)
    time.sleep(0.3)
    monitor.wait(5)
    assert monitor.attempts == 1 and "no model is serving" in monitor.last_error
    monitor.on_flush(4)  # 19: no new window
    monitor.wait(5)
    assert monitor.attempts == 1
    monitor.on_flush(1)  # 20: the second window is complete
    monitor.wait(5)
    assert monitor.attempts == 2
    assert monitor.coverage.windows_due == 2 and monitor.coverage.windows_covered == 0
