"""The cool-down counts retrains, never the event that asks for one (issue 12, defect 2)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from driftloop.adapters.event_records import record_event
from driftloop.adapters.store import ObjectStore
from driftloop.jobs.detect import last_retrain_time

from ..conftest import run_cli
from .test_retrain import split_of


@pytest.fixture()
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore((tmp_path / "store").as_uri())


def test_an_emitted_or_delivered_event_is_not_a_retrain(store: ObjectStore) -> None:
    record_event(store, "e1", "emitted", event={"event_id": "e1", "created_at": "2030-01-01"})
    record_event(store, "e1", "delivered", http_status=200)
    record_event(store, "e2", "accepted", event={"event_id": "e2", "created_at": "2030-01-01"})
    record_event(store, "e2", "duplicate-skipped")
    assert last_retrain_time(store) is None


def test_a_started_or_finished_retrain_counts(store: ObjectStore) -> None:
    before = time.time()
    record_event(store, "e1", "emitted", event={"event_id": "e1", "created_at": "2001-01-01"})
    record_event(store, "e1", "retrain-running", retrain_id="e1")
    started = last_retrain_time(store)
    assert started is not None and before - 1 <= started <= time.time() + 1


def test_a_retrain_record_counts_and_a_skipped_one_does_not(store: ObjectStore) -> None:
    store.write_json("retrains/r0.json", {"status": "skipped", "finished_at": "2030-01-01"})
    record_event(store, "e0", "retrain-skipped", reason="lease")
    assert last_retrain_time(store) is None
    store.write_json("retrains/r1.json", {"status": "rejected", "finished_at": "2029-06-01T00:00"})
    assert last_retrain_time(store) == pytest.approx(
        __import__("datetime").datetime.fromisoformat("2029-06-01T00:00+00:00").timestamp()
    )


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the webhook takes the event, as the EventSource does
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/drift-detected"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.e2e
def test_the_workflow_detect_step_is_not_cooled_down_by_its_own_event(
    trained_env, tmp_path, webhook
):
    """detect emits an event (the CronJob); the workflow's detect step, seconds later and with
    the template's arguments, still decides to retrain (exit 3)."""
    frame = split_of(trained_env, "test")
    frame["monthly_charges"] = frame["monthly_charges"] * 1.5 + 20
    current = tmp_path / "current.parquet"
    frame.to_parquet(current)
    env = dict(
        trained_env,
        DRIFTLOOP_WEBHOOK__URL=webhook,
    )
    first = run_cli(["detect", "--current-data-path", str(current), "--emit"], env)
    assert first.returncode == 3, first.stdout + first.stderr
    assert "delivered" in first.stdout
    out = tmp_path / "model" / "drift.json"
    step = run_cli(
        [
            "detect",
            "--reference-data-path", "",
            "--current-data-path", str(current),
            "--output", str(out),
        ],
        trained_env,
    )  # fmt: skip
    assert step.returncode == 3, step.stdout + step.stderr
    decision = json.loads(out.read_text())["decision"]
    assert decision["retrain"] is True and decision["cooldown_remaining_s"] == 0.0
