"""`train` promotes through the same gate as retrain (``jobs.promote``), in process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker
from driftloop.config.errors import DriftloopError
from driftloop.config.settings import Settings
from driftloop.config.spec import load_spec
from driftloop.core.gate import GateDecision
from driftloop.jobs.promote import apply_promotion
from driftloop.jobs.train import train_models

from ..conftest import registry_client

pytestmark = pytest.mark.e2e
MODEL = "driftloop-model"


def weak_spec(env: dict[str, str], tmp_path: Path) -> Path:
    """The trained state's spec with one candidate that can barely learn anything."""
    data = yaml.safe_load(Path(env["DRIFTLOOP_SPEC"]).read_text())
    data["candidates"] = [
        {"name": "stump", "kind": "lightgbm",
         "params": {"n_estimators": 1, "num_leaves": 2, "verbose": -1, "random_state": 1}},
    ]  # fmt: skip
    path = tmp_path / "weak.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_worse_second_train_does_not_move_the_champion(trained_env, tmp_path):
    settings = Settings()
    store = ObjectStore.from_settings(settings)
    client = registry_client(trained_env["DRIFTLOOP_STATE_DIR"])
    before = str(client.get_model_version_by_alias(MODEL, "champion").version)
    dataset = store.read_json("datasets/latest.json")["version"]
    store.write_json("datasets/latest.json", {"version": "pointer-left-alone"})

    result = train_models(load_spec(weak_spec(trained_env, tmp_path)), store,
                          Tracker(settings, store), dataset=dataset)  # fmt: skip

    assert not result.promoted
    assert result.gate is not None and not result.gate.promote
    assert result.gate.champion_version == before
    assert result.gate.challenger_score < result.gate.champion_score
    assert "does not beat champion" in result.comparison["reason"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == before
    assert store.read_json("datasets/latest.json") == {"version": "pointer-left-alone"}
    # the decision is recorded as the retrain gate records it: on the version and the run
    tags = client.get_model_version(MODEL, result.registered.version).tags
    assert tags["gate_promote"] == "False"
    assert tags["gate_champion_version"] == before
    assert tags["promotion"] == "not promoted"
    assert "promoted_at" not in tags
    run_tags = client.get_run(result.parent_run_id).data.tags
    assert run_tags["gate_promote"] == "False"
    assert run_tags["comparison_promoted"] == "False"


def test_promotion_refuses_a_decision_whose_champion_moved(trained_env):
    settings = Settings()
    store = ObjectStore.from_settings(settings)
    tracker = Tracker(settings, store)
    champion = tracker.resolve()
    stale = GateDecision("roc_auc", champion.version, "999", 0.9, 0.5, 0.0, 10, True, "test")
    with pytest.raises(DriftloopError, match="champion moved"):
        apply_promotion(tracker, store, stale, "whatever")
    rejected = GateDecision("roc_auc", champion.version, champion.version, 0.5, 0.9, 0.0, 10,
                            False, "does not beat")  # fmt: skip
    with pytest.raises(DriftloopError, match="did not pass"):
        apply_promotion(tracker, store, rejected, "whatever")
    assert tracker.resolve().version == champion.version
