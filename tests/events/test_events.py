from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from driftloop.adapters.store import ObjectStore
from driftloop.core.signing import SIGNATURE_HEADER, sign_body
from driftloop.events.delivery import deliver_event
from driftloop.events.intake import receive_event
from driftloop.events.model import DriftEvent, encode_event

from ..support.processes import free_port, stop_process, wait_for_port


def test_bad_signature_is_rejected_and_nothing_recorded(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    body = encode_event(DriftEvent(drift_score=0.4))
    receipt = receive_event(body, sign_body(body, "wrong"), "right", store)
    assert receipt.status == "rejected"
    assert store.list("events") == []


def test_duplicate_event_is_acknowledged_once(tmp_path):
    store = ObjectStore((tmp_path / "s").as_uri())
    event = DriftEvent(drift_score=0.4)
    body = encode_event(event)
    sig = sign_body(body, "k")
    assert receive_event(body, sig, "k", store).status == "accepted"
    assert receive_event(body, sig, "k", store).status == "duplicate"
    record = store.read_json(f"events/{event.event_id}.json")
    assert [h["what"] for h in record["history"]] == ["accepted", "duplicate-skipped"]


@pytest.mark.e2e  # a real `driftloop event listen` process
def test_receiver_over_http_verifies_and_dedups(tmp_path):
    """The local EventSource stand-in, as a real uvicorn process."""
    port = free_port()
    env = {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_WEBHOOK__SECRET": "test-only-secret",
        "DRIFTLOOP_WEBHOOK__TOKEN": "test-only-token",
    }
    import os

    # run_retrain stays on, but the event has no champion: the retrain process fails fast
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftloop", "event", "listen", "--port", str(port)],
        env={**os.environ, **env},
    )
    try:
        wait_for_port(port, proc=proc)
        url = f"http://127.0.0.1:{port}/drift-detected"
        event = DriftEvent(drift_score=0.5)
        with pytest.raises(Exception, match="401"):  # signed, but no bearer token
            deliver_event(event, url, "test-only-secret", retries=1)
        assert (
            deliver_event(event, url, "test-only-secret", retries=2, token="test-only-token") == 200
        )
        again = httpx.post(
            url,
            content=encode_event(event),
            headers={
                SIGNATURE_HEADER: sign_body(encode_event(event), "test-only-secret"),
                "Authorization": "Bearer test-only-token",
            },
        )
        assert again.json()["status"] == "duplicate"
        bad = httpx.post(
            url,
            content=encode_event(DriftEvent(drift_score=0.1)),
            headers={
                SIGNATURE_HEADER: "sha256=" + "0" * 64,
                "Authorization": "Bearer test-only-token",
            },
        )
        assert bad.status_code == 401 and "signature" in bad.json()["reason"]
        with pytest.raises(Exception, match="refused"):
            deliver_event(
                DriftEvent(drift_score=0.2),
                url,
                "not-the-secret",
                retries=1,
                token="test-only-token",
            )
    finally:
        stop_process(proc)
    store = ObjectStore((tmp_path / "state" / "store").as_uri())
    record = json.loads(store.read_bytes(f"events/{event.event_id}.json"))
    assert "duplicate-skipped" in [h["what"] for h in record["history"]]


def test_delivery_retries_until_the_receiver_is_up(tmp_path):
    port = free_port()
    # nothing listens: every attempt fails, and the error says how many were made
    with pytest.raises(Exception, match="after 2 attempts"):
        deliver_event(
            DriftEvent(drift_score=0.3),
            f"http://127.0.0.1:{port}/x",
            "k",
            retries=2,
            backoff_s=0.01,
        )
