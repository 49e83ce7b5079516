"""A retrain for an event queued before a promotion: its window was served by a model that
is no longer the champion, so it starts nothing and is recorded as superseded — unless the
event was forced by hand (``driftloop event send`` sets ``force_retrain``)."""

from __future__ import annotations

import json

import pytest

from driftloop.adapters.event_records import record_event
from driftloop.adapters.lease import lease_key
from driftloop.core.statuses import EventStatus
from driftloop.events.model import DriftEvent

from ..support.processes import run_cli
from ..support.state import registry_client
from .test_retrain import labelled_file

pytestmark = pytest.mark.e2e


def queue_event(store, event_id: str, served_by: str, forced: bool = False) -> None:
    """The record ``emit_event`` writes for an event the monitor raised."""
    event = DriftEvent(event_id=event_id, source="monitor", drift_score=0.5,
                       model_version=served_by, force_retrain=forced)  # fmt: skip
    record_event(store, event_id, EventStatus.EMITTED, event=event.model_dump(), target="local")


def versions(state) -> int:
    return len(registry_client(state.state_dir).search_model_versions("name='driftloop-model'"))


def test_a_stale_event_starts_nothing_and_a_forced_one_still_retrains(fresh_state, tmp_path):
    store = fresh_state.store()
    champion, registered = fresh_state.champion(), versions(fresh_state)
    stale = str(int(champion) + 100)  # a version that served the window, replaced since
    data = labelled_file(tmp_path, fresh_state.split("valid"), "v.parquet")
    queue_event(store, "ev-stale", stale)
    ran = run_cli(["retrain", "--model-dir", str(tmp_path / "a"), "--current-data-path", data,
                   "--event-id", "ev-stale"], fresh_state.env())  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = json.loads((tmp_path / "a" / "retrain-result.json").read_text())
    assert out["status"] == "superseded", out
    assert f"served by v{stale}" in out["reason"] and f"now v{champion}" in out["reason"]
    record = store.read_json("events/ev-stale.json")
    assert record["status"] == "retrain-superseded"
    assert [h["what"] for h in record["history"]] == ["emitted", "retrain-superseded"]
    assert versions(fresh_state) == registered  # nothing trained or registered
    assert fresh_state.champion() == champion
    assert not store.exists(lease_key("retrain"))
    from driftloop.jobs.detect_history import last_retrain_time

    assert last_retrain_time(store) is None  # a superseded event is no retrain: no cool-down

    queue_event(store, "ev-forced", stale, forced=True)
    forced = run_cli(["retrain", "--model-dir", str(tmp_path / "b"), "--no-promote",
                      "--current-data-path", data, "--event-id", "ev-forced"],
                     fresh_state.env())  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    status = json.loads((tmp_path / "b" / "retrain-result.json").read_text())["status"]
    assert status in {"trained", "rejected"}
    assert versions(fresh_state) == registered + 1
