"""Who may do what: admin routes need the token, production needs real secrets, and drift
events are signed and acted on once, even across a receiver restart."""

from __future__ import annotations

import asyncio
import hmac
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..support.processes import ServerProcess, free_port, wait_for_port
from ..support.state import ADMIN_TOKEN, TrainedState, sample_records

pytestmark = pytest.mark.e2e
LONG_TOKEN = "a-token-long-enough-for-production"


ADMIN_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/admin/reload", {}),
    ("/feedback", {"labels": [{"request_id": "auth-test", "label": "Yes"}]}),
    ("/simulate-drift", {"drift_type": "none", "n": 5, "seed": 1}),
]
"""Every admin route, with a body it accepts."""


def test_admin_routes_need_the_token(shared_state: TrainedState, shared_server: ServerProcess):
    with shared_server.client() as c:
        for path, body in ADMIN_CALLS:
            missing = c.post(path, json=body)
            assert missing.status_code == 401, (path, missing.text)
            assert missing.headers["www-authenticate"] == "Bearer"
            basic = c.post(path, json=body, headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
            assert basic.status_code == 401, (path, basic.text)
            for wrong in ("x" * len(ADMIN_TOKEN), ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x"):
                refused = c.post(path, json=body, headers={"Authorization": f"Bearer {wrong}"})
                assert refused.status_code == 403, (path, wrong, refused.text)
            allowed = c.post(path, json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert allowed.status_code == 200, (path, allowed.text)
        # the prediction routes stay open
        (record,), _ = sample_records(shared_state, 1)
        assert c.post("/predict", json=record).status_code == 200


def test_tokens_and_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch):
    from fastapi import HTTPException
    from fastapi.security import HTTPAuthorizationCredentials

    from driftloop.config.settings import Settings
    from driftloop.core.signing import sign_body, verify_signature
    from driftloop.serve.deps import require_admin

    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    settings = Settings(admin_token=LONG_TOKEN)

    def check(token: str) -> None:
        asyncio.run(require_admin(settings, HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=token)))  # fmt: skip

    check(LONG_TOKEN)
    with pytest.raises(HTTPException) as refused:
        check(LONG_TOKEN[:-1] + "!")
    assert refused.value.status_code == 403
    assert len(calls) == 2
    assert verify_signature(b"{}", sign_body(b"{}", "k"), "k")
    assert not verify_signature(b"{}", sign_body(b"{}", "other"), "k")
    assert len(calls) == 4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"admin_token": ""}, "need a token"),
        ({"admin_token": "change-me"}, "at least 16"),  # the deploy/ env placeholder
        ({"admin_token": "dev-only-not-a-secret"}, "DRIFTLOOP_ADMIN_TOKEN"),  # the dev default
        # the in-server drift monitor emits signed events: it needs the webhook secret
        ({"admin_token": LONG_TOKEN, "server": {"monitor_every_rows": 500}},
         "DRIFTLOOP_WEBHOOK__SECRET"),
        ({"admin_token": LONG_TOKEN, "webhook": {"secret": ""},
          "server": {"monitor_every_rows": 500}}, "DRIFTLOOP_WEBHOOK__SECRET"),
    ],
)  # fmt: skip
def test_production_refuses_default_or_empty_secrets(settings: dict[str, Any], message: str):
    from driftloop.config.settings import Settings
    from driftloop.serve.app import ServeConfigError, check_serve_settings

    with pytest.raises(ServeConfigError, match=message):
        check_serve_settings(Settings(env="production", **settings))


def test_production_settings_with_real_secrets_are_accepted():
    from driftloop.config.settings import Settings
    from driftloop.serve.app import check_serve_settings

    check_serve_settings(Settings(env="production", admin_token=LONG_TOKEN,
                                  webhook={"secret": LONG_TOKEN}))  # fmt: skip
    check_serve_settings(Settings(env="production", server={"admin_endpoints": False,
                                                             "monitor_every_rows": 0}))  # fmt: skip


def test_commands_that_emit_events_refuse_to_run_without_the_secret_in_production(
    shared_state: TrainedState, tmp_path: Path
):
    """`event send`, `detect --emit` and `event listen` (run at once: each costs seconds)."""
    import os

    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(shared_state.store_url)
    current = tmp_path / "current.parquet"
    open_dataset(store).frame("test").to_parquet(current)  # no drift: no event is due
    env = {**os.environ, **shared_state.env(), "DRIFTLOOP_ENV": "production",
           "DRIFTLOOP_ADMIN_TOKEN": LONG_TOKEN, "DRIFTLOOP_WEBHOOK__SECRET": "",
           "COLUMNS": "200"}  # fmt: skip
    commands = {
        "event send": ["event", "send", "--drift-score", "0.9"],
        "detect --emit": ["detect", "--emit", "--no-report", "--current-data-path", str(current)],
        "event listen": ["event", "listen", "--port", str(free_port())],
    }
    reports_before = store.list("reports")
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "driftloop", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, args in commands.items()
    }  # fmt: skip
    results = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[name] = (proc.returncode, out, err)
    for name, (code, out, err) in results.items():
        assert code not in (0, None), (name, code, out, err)
        assert "DRIFTLOOP_WEBHOOK__SECRET" in err, (name, err)
        assert "Traceback" not in err, (name, err)
    assert store.list("events") == []
    assert store.list("reports") == reports_before  # refused before doing the work


class ThreadedReceiver:
    """The event receiver app under uvicorn in a thread (its only state is the store)."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from driftloop.events.receiver import create_receiver_app

        self.port = free_port()
        app = create_receiver_app(settings, run_retrain=False)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/drift-detected"

    def __enter__(self) -> ThreadedReceiver:
        self.thread.start()
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture()
def receiver_settings(tmp_path: Path) -> Iterator[Any]:
    from driftloop.config.settings import Settings

    yield Settings(state_dir=tmp_path / "state", env="production",
                   webhook={"secret": LONG_TOKEN})  # fmt: skip


def test_a_replayed_event_is_ignored_after_a_receiver_restart(receiver_settings: Any):
    from driftloop.adapters.store import ObjectStore
    from driftloop.core.signing import SIGNATURE_HEADER, sign_body
    from driftloop.events.model import DriftEvent, encode_event

    event = DriftEvent(drift_score=0.7, drifted_features=["tenure"])
    body = encode_event(event)
    signed = {SIGNATURE_HEADER: sign_body(body, LONG_TOKEN), "Content-Type": "application/json"}
    with ThreadedReceiver(receiver_settings) as first:
        accepted = httpx.post(first.url, content=body, headers=signed)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    with ThreadedReceiver(receiver_settings) as second:  # a new process's worth of state
        replay = httpx.post(second.url, content=body, headers=signed)
        assert replay.status_code == 200, replay.text
        assert replay.json() == {"status": "duplicate", "event_id": event.event_id,
                                 "reason": "event id seen before; not acted on again"}  # fmt: skip
        forged = body.replace(b'"drift_score":0.7', b'"drift_score":0.1')
        assert forged != body
        assert httpx.post(second.url, content=forged, headers=signed).status_code == 401
        other = sign_body(body, "not-the-secret")
        assert httpx.post(second.url, content=body,
                          headers={SIGNATURE_HEADER: other}).status_code == 401  # fmt: skip
        unsigned = httpx.post(second.url, content=body)
        assert unsigned.status_code == 401
    record = ObjectStore.from_settings(receiver_settings).read_json(f"events/{event.event_id}.json")
    assert [h["what"] for h in record["history"]] == ["accepted", "duplicate-skipped"]
