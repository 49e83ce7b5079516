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
from driftloop.adapters.store import ObjectStore

from ..conftest import registry_client, run_cli

pytestmark = pytest.mark.e2e


def store_of(env: dict[str, str]) -> ObjectStore:
    return ObjectStore((Path(env["DRIFTLOOP_STATE_DIR"]) / "store").as_uri())


def split_of(env: dict[str, str], name: str) -> pd.DataFrame:
    store = store_of(env)
    version = store.read_json("datasets/latest.json")["version"]
    return store.read_parquet(f"datasets/{version}/{name}.parquet")


def labelled_file(env, tmp_path: Path, frame: pd.DataFrame, name: str) -> str:
    out = frame.copy()
    out["churn"] = np.where(out["churn"] == 1, "Yes", "No")
    path = tmp_path / name
    out.to_parquet(path)
    return str(path)


def champion(env) -> str:
    client = registry_client(env["DRIFTLOOP_STATE_DIR"])
    return str(client.get_model_version_by_alias("driftloop-model", "champion").version)


def test_challenger_worse_than_champion_is_not_promoted(trained_env, tmp_path):
    valid = split_of(trained_env, "valid")
    noise = valid.assign(churn=np.random.default_rng(0).integers(0, 2, len(valid)))
    spec = yaml.safe_load(Path(trained_env["DRIFTLOOP_SPEC"]).read_text())
    spec["retrain"] = {"recent_weight": 0.9, "holdout_share": 0.5, "lease_ttl_s": 60}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    env = dict(trained_env, DRIFTLOOP_SPEC=str(spec_path))
    before = champion(env)
    result = run_cli(
        [
            "retrain",
            "--model-dir",
            str(tmp_path / "m"),
            "--current-data-path",
            labelled_file(env, tmp_path, noise, "noise.parquet"),
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads((tmp_path / "m" / "retrain-result.json").read_text())
    assert out["status"] == "rejected", out
    assert out["gate"]["challenger_score"] < out["gate"]["champion_score"]
    assert champion(env) == before
    # the decision is recorded in the store and as MLflow tags on the challenger
    assert store_of(env).read_json(f"retrains/{out['retrain_id']}.json")["status"] == "rejected"
    client = registry_client(env["DRIFTLOOP_STATE_DIR"])
    tags = client.get_model_version("driftloop-model", out["challenger_version"]).tags
    assert tags["gate_promote"] == "False"
    assert (
        str(client.get_model_version_by_alias("driftloop-model", "challenger").version)
        == out["challenger_version"]
    )


def test_live_lease_skips_and_stale_lease_is_taken_over(trained_env, tmp_path):
    store = store_of(trained_env)
    valid = split_of(trained_env, "valid")
    data = labelled_file(trained_env, tmp_path, valid, "valid.parquet")
    store.write_json(
        lease_key("retrain"),
        {"holder": "other", "acquired_at": time.time(), "expires_at": time.time() + 600},
    )
    busy = run_cli(
        ["retrain", "--model-dir", str(tmp_path / "a"), "--current-data-path", data], trained_env
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
        trained_env,
    )
    assert ran.returncode == 0, ran.stderr
    status = json.loads((tmp_path / "b" / "retrain-result.json").read_text())["status"]
    assert status in {"trained", "rejected"}
    assert not store.exists(lease_key("retrain"))  # released after the run


def test_shifted_world_retrain_then_promote_step(trained_env, tmp_path):
    """Labels now depend on the shifted feature: the challenger learns it, the gate passes."""
    valid = split_of(trained_env, "valid")
    test = split_of(trained_env, "test")
    rng = np.random.default_rng(1)
    world = pd.concat([valid, test, valid], ignore_index=True)
    world["monthly_charges"] = world["monthly_charges"] * 1.5 + 20
    # in the new world, long-tenure customers on month-to-month contracts churn
    world["churn"] = (
        (world["tenure"] > 30) & (world["contract"] == "Month-to-month")
        | (rng.random(len(world)) < 0.05)
    ).astype(int)
    before = champion(trained_env)
    model_dir = tmp_path / "m"
    result = run_cli(
        [
            "retrain",
            "--model-dir",
            str(model_dir),
            "--no-promote",
            "--current-data-path",
            labelled_file(trained_env, tmp_path, world, "world.parquet"),
        ],
        trained_env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads((model_dir / "retrain-result.json").read_text())
    assert out["status"] == "trained", out
    assert champion(trained_env) == before  # --no-promote leaves it to the promote step
    promoted = run_cli(["promote", "--model-dir", str(model_dir)], trained_env)
    assert promoted.returncode == 0, promoted.stderr
    assert champion(trained_env) == out["challenger_version"]
    store = store_of(trained_env)
    assert store.read_json("datasets/latest.json")["version"] == out["dataset_version"]


def retrain_in_process(env, current: str, spec_path: str | None = None, event_id: str = "ev-f"):
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.config.spec import load_spec
    from driftloop.jobs.retrain import retrain_model

    settings = Settings()
    store = ObjectStore.from_settings(settings)
    spec = load_spec(spec_path or env["DRIFTLOOP_SPEC"])
    return retrain_model(spec, store, Tracker(settings, store), event_id=event_id,
                         current_data_path=current)  # fmt: skip


def assert_failed_and_released(env, event_id: str, error: str) -> None:
    store = store_of(env)
    record = store.read_json(f"events/{event_id}.json")
    assert record["status"] == "retrain-failed", record
    assert [h["what"] for h in record["history"]] == ["retrain-running", "retrain-failed"]
    assert error in record["history"][-1]["error"]
    assert not store.exists(lease_key("retrain"))


def test_a_scikit_learn_error_is_recorded_then_raised(trained_env, tmp_path):
    """A candidate sklearn refuses at fit time: not a DriftloopError, still recorded."""
    data = labelled_file(trained_env, tmp_path, split_of(trained_env, "valid"), "v.parquet")
    spec = yaml.safe_load(Path(trained_env["DRIFTLOOP_SPEC"]).read_text())
    spec["candidates"] = [{"name": "bad", "kind": "logistic_regression", "params": {"C": -1.0}}]
    spec_path = tmp_path / "bad.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    before = champion(trained_env)
    with pytest.raises(ValueError, match="C"):
        retrain_in_process(trained_env, data, str(spec_path), event_id="ev-sklearn")
    assert_failed_and_released(trained_env, "ev-sklearn", "InvalidParameterError")
    assert champion(trained_env) == before


def test_a_store_error_is_recorded_then_raised(trained_env, tmp_path):
    """The store cannot take the retrain's result (``retrains`` is a file, not a folder):
    an OSError at the last step, after the model was trained and gated."""
    data = labelled_file(trained_env, tmp_path, split_of(trained_env, "valid"), "v.parquet")
    (Path(trained_env["DRIFTLOOP_STATE_DIR"]) / "store" / "retrains").write_text("in the way")
    with pytest.raises(OSError, match="retrains"):
        retrain_in_process(trained_env, data, event_id="ev-store")
    assert_failed_and_released(trained_env, "ev-store", "StoreUnavailableError")
