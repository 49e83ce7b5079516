"""Retrain and gate, run through the CLI on a trained telco champion."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftloop.adapters.lease import lease_key

from ..support.processes import run_cli
from ..support.state import registry_client

pytestmark = pytest.mark.e2e


def labelled_file(tmp_path: Path, frame: pd.DataFrame, name: str) -> str:
    out = frame.copy()
    out["churn"] = np.where(out["churn"] == 1, "Yes", "No")
    path = tmp_path / name
    out.to_parquet(path)
    return str(path)


def test_challenger_worse_than_champion_is_not_promoted(fresh_state, tmp_path):
    valid = fresh_state.split("valid")
    noise = valid.assign(churn=np.random.default_rng(0).integers(0, 2, len(valid)))
    spec = yaml.safe_load(fresh_state.spec.read_text())
    spec["retrain"] = {"recent_weight": 0.9, "holdout_share": 0.5, "lease_ttl_s": 60}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    env = dict(fresh_state.env(), DRIFTLOOP_SPEC=str(spec_path))
    before = fresh_state.champion()
    result = run_cli(
        [
            "retrain",
            "--model-dir",
            str(tmp_path / "m"),
            "--current-data-path",
            labelled_file(tmp_path, noise, "noise.parquet"),
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads((tmp_path / "m" / "retrain-result.json").read_text())
    assert out["status"] == "rejected", out
    gate = out["gate"]
    # trained on noise: worse on the real world, and no confident win on the noisy newest rows
    assert gate["scores"]["test"]["challenger"] < gate["scores"]["test"]["champion"], gate
    assert gate["interval"]["lower_bound"] <= 0, gate
    assert fresh_state.champion() == before
    # the decision is recorded in the store and as MLflow tags on the challenger
    from driftloop.adapters.retrain_records import read_retrains, retrain_keys

    assert read_retrains(fresh_state.store())[0]["status"] == "rejected"
    assert retrain_keys(fresh_state.store())[0].count("/") == 4  # retrains/<yyyy>/<mm>/<dd>/<id>
    client = registry_client(env["DRIFTLOOP_STATE_DIR"])
    tags = client.get_model_version("driftloop-model", out["challenger_version"]).tags
    assert tags["gate_promote"] == "False"
    assert (
        str(client.get_model_version_by_alias("driftloop-model", "challenger").version)
        == out["challenger_version"]
    )


def test_live_lease_skips_and_stale_lease_is_taken_over(fresh_state, tmp_path):
    store = fresh_state.store()
    valid = fresh_state.split("valid")
    data = labelled_file(tmp_path, valid, "valid.parquet")
    store.write_json(
        lease_key("retrain"),
        {"holder": "other", "acquired_at": time.time(), "expires_at": time.time() + 600},
    )
    busy = run_cli(
        ["retrain", "--model-dir", str(tmp_path / "a"), "--current-data-path", data],
        fresh_state.env(),
    )
    assert busy.returncode == 0, busy.stderr
    assert json.loads((tmp_path / "a" / "retrain-result.json").read_text())["status"] == "skipped"
    store.write_json(
        lease_key("retrain"), {"holder": "crashed", "acquired_at": 0, "expires_at": time.time() - 1}
    )
    ran = run_cli(
        [
            "retrain",
            "--model-dir",
            str(tmp_path / "b"),
            "--no-promote",
            "--current-data-path",
            data,
        ],
        fresh_state.env(),
    )
    assert ran.returncode == 0, ran.stderr
    status = json.loads((tmp_path / "b" / "retrain-result.json").read_text())["status"]
    assert status in {"trained", "rejected"}
    assert not store.exists(lease_key("retrain"))  # released after the run


def test_shifted_world_retrain_then_promote_step(fresh_state, tmp_path):
    """Labels now depend on the shifted feature: the challenger learns it, the gate passes."""
    valid = fresh_state.split("valid")
    test = fresh_state.split("test")
    rng = np.random.default_rng(1)
    world = pd.concat([valid, test, valid], ignore_index=True)
    world["monthly_charges"] = world["monthly_charges"] * 1.5 + 20
    # in the new world, long-tenure customers on month-to-month contracts churn
    world["churn"] = (
        (world["tenure"] > 30) & (world["contract"] == "Month-to-month")
        | (rng.random(len(world)) < 0.05)
    ).astype(int)
    before = fresh_state.champion()
    model_dir = tmp_path / "m"
    result = run_cli(
        [
            "retrain",
            "--model-dir",
            str(model_dir),
            "--no-promote",
            "--current-data-path",
            labelled_file(tmp_path, world, "world.parquet"),
        ],
        fresh_state.env(),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads((model_dir / "retrain-result.json").read_text())
    assert out["status"] == "trained", out
    assert fresh_state.champion() == before  # --no-promote leaves it to the promote step
    promoted = run_cli(["promote", "--model-dir", str(model_dir)], fresh_state.env())
    assert promoted.returncode == 0, promoted.stderr
    assert fresh_state.champion() == out["challenger_version"]
    store = fresh_state.store()
    assert store.read_json("datasets/latest.json")["version"] == out["dataset_version"]


def retrain_in_process(state, current: str, spec_path: str | None = None, event_id: str = "ev-f"):
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.spec import load_spec
    from driftloop.jobs.retrain import retrain_model

    settings = state.settings()
    store = ObjectStore.from_settings(settings)
    spec = load_spec(spec_path or state.spec)
    return retrain_model(spec, store, Tracker(settings, store), event_id=event_id,
                         current_data_path=current)  # fmt: skip


def assert_failed_and_released(state, event_id: str, error: str) -> None:
    store = state.store()
    record = store.read_json(f"events/{event_id}.json")
    assert record["status"] == "retrain-failed", record
    assert [h["what"] for h in record["history"]] == ["retrain-running", "retrain-failed"]
    assert error in record["history"][-1]["error"]
    assert not store.exists(lease_key("retrain"))


def test_a_scikit_learn_error_is_recorded_then_raised(fresh_state, tmp_path):
    """A candidate sklearn refuses at fit time: not a DriftloopError, still recorded."""
    data = labelled_file(tmp_path, fresh_state.split("valid"), "v.parquet")
    spec = yaml.safe_load(fresh_state.spec.read_text())
    spec["candidates"] = [{"name": "bad", "kind": "logistic_regression", "params": {"C": -1.0}}]
    spec_path = tmp_path / "bad.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    before = fresh_state.champion()
    with pytest.raises(ValueError, match="C"):
        retrain_in_process(fresh_state, data, str(spec_path), event_id="ev-sklearn")
    assert_failed_and_released(fresh_state, "ev-sklearn", "InvalidParameterError")
    assert fresh_state.champion() == before


def test_a_store_error_is_recorded_then_raised(fresh_state, tmp_path):
    """The store cannot take the retrain's result (``retrains`` is a file, not a folder):
    an OSError at the last step, after the model was trained and gated."""
    data = labelled_file(tmp_path, fresh_state.split("valid"), "v.parquet")
    (fresh_state.state_dir / "store" / "retrains").write_text("in the way")
    with pytest.raises(OSError, match="retrains"):
        retrain_in_process(fresh_state, data, event_id="ev-store")
    assert_failed_and_released(fresh_state, "ev-store", "StoreUnavailableError")
