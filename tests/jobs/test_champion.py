"""The store's champion record follows the registry: a champion moved by hand in MLflow
(``set_registered_model_alias``, bypassing the gate) is noticed by the next step that reads
the registry (here the server's alias poll and the gate's own check), which rewrites the
record; a record of another shape is ignored and the registry asked."""

from __future__ import annotations

import json

import pytest

from driftloop.adapters.champion_record import (
    champion_key,
    read_champion_record,
    sync_champion_record,
)
from driftloop.adapters.tracking import ModelVersionInfo

from ..support.processes import run_cli
from ..support.state import MODEL_NAME, register_pipeline, registry_client, tracker_for

pytestmark = pytest.mark.e2e


@pytest.fixture()
def moved(fresh_state):
    """A second version, made champion directly in the registry (record left at v1)."""
    tracker = tracker_for(fresh_state)
    old = tracker.resolve("champion")
    pipeline = tracker.load_pipeline(old.version)
    new = register_pipeline(tracker, pipeline, str(old.dataset_version), "by-hand")
    registry_client(fresh_state.state_dir).set_registered_model_alias(MODEL_NAME, "champion", new)
    return fresh_state, tracker, old.version, new


def status_model(state) -> dict:
    result = run_cli(["status", "--json"], state.env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["model"]


def test_server_alias_poll_rewrites_a_record_the_registry_disagrees_with(moved):
    from driftloop.serve.model_holder import ModelHolder
    from driftloop.serve.telemetry import Telemetry

    state, tracker, old, new = moved
    store = state.store()
    assert status_model(state)["version"] == old  # the record is a copy: stale until a poll
    holder = ModelHolder(tracker, store, Telemetry(), max_batch=64)
    outcome = holder.check()
    assert outcome.serving_version == new, outcome
    record = read_champion_record(store, MODEL_NAME)
    assert record is not None and record.info.version == new and record.written_by == "serve"
    model = status_model(state)
    assert model["version"] == new and model["origin"]["written_by"] == "serve"


def test_the_gate_reads_the_registry_and_rewrites_the_record(moved):
    from driftloop.jobs.champion import registry_champion

    state, tracker, _, new = moved
    store = state.store()
    info = registry_champion(tracker, store, "promote")
    assert info is not None and info.version == new
    record = read_champion_record(store, MODEL_NAME)
    assert record is not None and record.info.version == new
    # agreeing with the registry: nothing is written
    before = store.read_bytes(champion_key(MODEL_NAME))
    assert not sync_champion_record(store, MODEL_NAME, info, "train")
    assert store.read_bytes(champion_key(MODEL_NAME)) == before


def test_a_registry_without_a_champion_removes_the_record(tmp_path):
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore((tmp_path / "store").as_uri())
    info = ModelVersionInfo(MODEL_NAME, "3", "run", "models:/m-1", {"dataset_version": "d"})
    assert sync_champion_record(store, MODEL_NAME, info, "train")
    assert read_champion_record(store, MODEL_NAME).info == ModelVersionInfo(
        MODEL_NAME, "3", "run", "models:/m-1", {"dataset_version": "d"}, ("champion",)
    )
    assert sync_champion_record(store, MODEL_NAME, None, "serve")
    assert not store.exists(champion_key(MODEL_NAME))


def test_a_record_of_another_shape_is_not_believed(tmp_path):
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore((tmp_path / "store").as_uri())
    store.write_json(champion_key(MODEL_NAME), {"version": "9"})
    assert read_champion_record(store, MODEL_NAME) is None
    store.write_bytes(champion_key(MODEL_NAME), b"{half")
    assert read_champion_record(store, MODEL_NAME) is None
