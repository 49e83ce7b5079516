"""The HMAC and the event id are checked in the cluster: a signed event goes through the
rendered Sensor's mapping (the stand-in for Argo Events) into the workflow's first step,
``driftloop event verify`` (issue 12, defects 4 and 6)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from driftloop.core.signing import SIGNATURE_HEADER, sign_body
from driftloop.events.model import DriftEvent, encode_event
from driftloop_cluster.argo_events import sensor_parameters
from driftloop_cluster.workflow import EVENT_DUPLICATE

from ..conftest import run_cli
from .conftest import find

SECRET = "test-hmac-secret"


@pytest.fixture(scope="module")
def sensor(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return find(rendered["dev"], "Sensor", "drift-retrain", "argo-events")


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_ENV": "production",
        "DRIFTLOOP_WEBHOOK__SECRET": SECRET,
    }


def _delivery(event: DriftEvent, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    body = encode_event(event)
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer t",
        SIGNATURE_HEADER: sign_body(body, secret),
    }
    return headers, body


def _verify(params: dict[str, str], env: dict[str, str]) -> int:
    argv = ["event", "verify", "--event", params["event"], "--signature", params["signature"]]
    result = run_cli(argv, env)
    return result.returncode


def test_a_signed_event_verifies_once_through_the_sensor_mapping(sensor, env) -> None:
    # <, > and & are escaped by Argo Events' re-serialisation; the signature still holds.
    event = DriftEvent(drift_score=0.42, report_uri="s3://x/r?a=<1>&b=2", drifted_features=["é"])
    headers, body = _delivery(event)
    params = sensor_parameters(sensor, headers, body)
    assert params is not None
    assert params["event"] != body.decode()  # re-serialised on the way, yet it verifies
    assert params["event-id"] == event.event_id and params["force-retrain"] == "false"
    assert _verify(params, env) == 0
    store = Path(env["DRIFTLOOP_STATE_DIR"]) / "store" / "events"
    assert (store / f"{event.event_id}.claim.json").exists()
    # The same delivery again (a replay, or the Sensor's retry): nothing more may run.
    assert _verify(params, env) == EVENT_DUPLICATE


def test_a_forged_body_with_a_valid_token_is_rejected(sensor, env) -> None:
    event = DriftEvent(drift_score=0.1)
    headers, _ = _delivery(event)
    forged = encode_event(event.model_copy(update={"force_retrain": True}))
    params = sensor_parameters(sensor, headers, forged)
    assert params is not None and params["force-retrain"] == "true"
    assert _verify(params, env) == 2
    wrong_key = sensor_parameters(sensor, *_delivery(event, secret="not-the-secret"))
    assert wrong_key is not None and _verify(wrong_key, env) == 2
    # A duplicate key is read one way by the Sensor (gjson: the first) and another by
    # Python (the last): refused, though the signature covers the last one's meaning.
    signed = encode_event(event)
    doubled = b'{"force_retrain":true,' + signed[1:]
    params = sensor_parameters(sensor, headers, doubled)
    assert params is not None and params["force-retrain"] == "true"
    assert _verify(params, env) == 2
    assert not (Path(env["DRIFTLOOP_STATE_DIR"]) / "store" / "events").exists()


def test_a_workflow_submitted_by_hand_has_no_event_to_verify(env) -> None:
    assert _verify({"event": "", "signature": ""}, env) == 0


class _Capture(BaseHTTPRequestHandler):
    seen: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Capture.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/drift-detected", _Capture.seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_hand_sent_event_forces_the_retrain(sensor, env, webhook) -> None:
    url, seen = webhook
    sent = run_cli(["event", "send", "--drift-score", "0.5", "--url", url], env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    headers, body = seen[0]
    params = sensor_parameters(sensor, headers, body)
    assert params is not None
    assert params["drift-score"] == "0.5" and params["force-retrain"] == "true"
    assert _verify(params, env) == 0
