"""The in-server drift monitor: checks in the background every N logged rows, emits a
signed event on a retrain decision, and serves /drift and the reports."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from driftloop.core.signing import SIGNATURE_HEADER, verify_signature

from ..conftest import free_port
from .conftest import auth, sample_records, serve_env, wait_until

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
            assert 'driftloop_drift_checks_total{decision="retrain"}' in metrics
            assert "driftloop_drift_share" in metrics
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
