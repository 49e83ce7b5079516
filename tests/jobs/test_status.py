"""`driftloop status`: the loop's facts from a state folder, and from a running server by URL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftloop.adapters.store import ObjectStore

from ..conftest import free_port, run_cli
from .test_retrain import split_of

pytestmark = pytest.mark.e2e


def write_window(env: dict[str, str], tmp_path: Path, shift: bool) -> str:
    """One drift check of the champion's test split (shifted or not), as `detect` does it."""
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.config.spec import load_spec
    from driftloop.jobs.detect import detect_drift

    frame = split_of(env, "test")
    if shift:
        frame["monthly_charges"] = frame["monthly_charges"] * 1.5 + 20
    path = tmp_path / f"window-{shift}.parquet"
    frame.to_parquet(path)
    settings = Settings()
    store = ObjectStore.from_settings(settings)
    result = detect_drift(load_spec(settings.spec), store, Tracker(settings, store),
                          current_data_path=str(path), report=False)  # fmt: skip
    return str(result.report_id)


def record_rejected_retrain(env: dict[str, str], report_id: str) -> None:
    """A drift event whose retrain the gate rejected, recorded as the real steps record it."""
    from driftloop.adapters.event_records import record_event

    store = ObjectStore((Path(env["DRIFTLOOP_STATE_DIR"]) / "store").as_uri())
    gate = {
        "metric": "roc_auc",
        "challenger_version": "2",
        "champion_version": "1",
        "challenger_score": 0.8111,
        "champion_score": 0.8422,
        "margin": 0.0,
        "evaluation_rows": 1234,
        "promote": False,
        "reason": "does not beat",
    }
    result = {"retrain_id": "ev1", "status": "rejected", "reason": "does not beat",
              "event_id": "ev1", "champion_version": "1", "challenger_version": "2",
              "rows": {"evaluation": 1234}, "gate": gate}  # fmt: skip
    event = {"event_id": "ev1", "created_at": "2026-11-28T10:00:00+00:00", "source": "detect",
             "drift_score": 0.25, "drifted_features": ["monthly_charges"],
             "report_id": report_id, "model_version": "1"}  # fmt: skip
    record_event(store, "ev1", "accepted", event=event)
    record_event(store, "ev1", "retrain-running", retrain_id="ev1")
    record_event(store, "ev1", "retrain-rejected", result=result)
    store.write_json("retrains/ev1.json", result)


def test_status_of_a_local_state_folder(trained_env, tmp_path):
    ids = [write_window(trained_env, tmp_path, shift) for shift in (False, True)]
    record_rejected_retrain(trained_env, ids[1])

    shown = run_cli(["status"], trained_env)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for text in ("serving model", "driftloop-model v1", *ids, "drifted", "retrain-rejected",
                 "challenger v2 0.8111 vs champion v1 0.8422 on 1234 rows",
                 "traffic (inference log"):  # fmt: skip
        assert text in out, f"{text!r} not in:\n{out}"

    facts = json.loads(json.dumps(local_facts(), default=str))  # what `status --json` prints
    assert facts["model"]["version"] == "1" and facts["model"]["dataset_version"]
    assert [w["report_id"] for w in facts["windows"]] == ids
    assert [w["window_drifted"] for w in facts["windows"]] == [False, True]
    assert [(e["kind"], e["outcome"]) for e in facts["timeline"]] == [
        ("gate", "rejected"),
        ("retrain", "rejected"),
        ("drift-event", "retrain-rejected"),
    ]
    assert facts["quality"]["windows"] == [] and facts["errors"] == []


def local_facts() -> dict[str, Any]:
    """``gather_local_status`` over the state folder the environment selects."""
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.config.spec import load_spec
    from driftloop.jobs.status import gather_local_status

    settings = Settings()
    store = ObjectStore.from_settings(settings)
    return gather_local_status(settings, load_spec(settings.spec), store,
                               Tracker(settings, store))  # fmt: skip


def test_status_of_an_empty_state_folder(state_env):
    from rich.console import Console

    from driftloop.jobs.status import status_view

    facts = local_facts()
    assert facts["model"] is None and facts["windows"] == facts["timeline"] == []
    assert facts["errors"] == []
    console = Console(record=True, width=160)
    console.print(status_view(facts))
    assert "no champion" in console.export_text()


@pytest.fixture()
def server(trained_env: dict[str, str]) -> Iterator[str]:
    """The app (create_app + the dashboard routes) under uvicorn on 127.0.0.1, in a thread."""
    import uvicorn

    from driftloop.config.settings import Settings

    from ..serve.test_dashboard import dashboard_app

    port = free_port()
    app = dashboard_app(Settings(server={"reload_interval_s": 0}))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    while not uv.started:
        assert thread.is_alive(), "uvicorn stopped during start-up"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(30)


def test_status_of_a_running_server_by_url(server, trained_env):
    import httpx

    from driftloop.jobs.status import fetch_remote_status

    from ..serve.conftest import TrainedState, sample_records

    state = TrainedState(Path(trained_env["DRIFTLOOP_STATE_DIR"]).parent,
                         Path(trained_env["DRIFTLOOP_SPEC"]))  # fmt: skip
    records, _ = sample_records(state, 4)
    for r in records:
        assert httpx.post(server + "/predict", json=r).status_code == 200
    facts: dict[str, Any] = fetch_remote_status(server)
    assert facts["source"].startswith("server ") and facts["model"]["version"] == "1"
    assert facts["traffic"]["requests"] == 4

    shown = run_cli(["status", "--url", server + "/dashboard"], trained_env)
    assert shown.returncode == 0, shown.stderr
    # train promotes through the gate, which stamps promoted_at on the champion
    for text in ("driftloop status from server", "driftloop-model v1", "since (promoted)",
                 "fast path", "traffic (", "predicted classes"):  # fmt: skip
        assert text in shown.stdout, f"{text!r} not in:\n{shown.stdout}"


def test_status_of_an_unreachable_server_says_so():
    url = f"http://127.0.0.1:{free_port()}"
    shown = run_cli(["status", "--url", url], {})
    assert shown.returncode == 1
    assert f"cannot reach {url}/dashboard/data" in shown.stderr
