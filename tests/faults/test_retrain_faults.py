"""A retrain killed halfway, and a promotion whose challenger lost its artifacts.

``driftloop retrain`` is SIGKILLed while it trains: the champion is untouched, the lease it
held stays behind until its (short) TTL runs out, and the next retrain takes it over and
finishes. The registry never points ``champion`` at a version whose files are gone:
``driftloop promote`` refuses a gate decision whose challenger's artifacts were deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from ..support.processes import run_cli, wait_until
from ..support.state import TrainedState, tracker_for
from .test_artifacts import model_file

pytestmark = pytest.mark.e2e
LEASE_TTL_S = 4.0


def shifted_world(store: Any, path: Path) -> Path:
    """Labelled recent rows where churn follows a new rule: a challenger learns it and wins."""
    from driftloop.adapters.datasets import open_dataset

    ds = open_dataset(store)
    valid, test = ds.frame("valid"), ds.frame("test")
    world = pd.concat([valid, test, valid], ignore_index=True)
    world["monthly_charges"] = world["monthly_charges"] * 1.5 + 20
    rule = (world["tenure"] > 30) & (world["contract"] == "Month-to-month")
    noise = np.random.default_rng(1).random(len(world)) < 0.05
    world["churn"] = np.where(rule | noise, "Yes", "No")
    world.to_parquet(path)
    return path


def short_lease_spec(state: TrainedState, path: Path) -> Path:
    """The state's spec with a short lease, and one quick candidate (retrains cost seconds)."""
    data = yaml.safe_load(state.spec.read_text())
    data["retrain"] = {"lease_ttl_s": LEASE_TTL_S, "holdout_share": 0.5, "recent_weight": 0.9}
    data["candidates"] = [c for c in data["candidates"] if c["kind"] == "logistic_regression"]
    path.write_text(yaml.safe_dump(data))
    return path


def test_killed_retrain_leaves_the_champion_and_its_lease_expires(
    shared_state: TrainedState, tmp_path: Path
):
    from driftloop.adapters.lease import lease_key, read_lease
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(shared_state.store_url)
    tracker = tracker_for(shared_state)
    champion = tracker.resolve("champion").version
    latest = store.read_json("datasets/latest.json")
    data = shifted_world(store, tmp_path / "world.parquet")
    env = {
        **shared_state.env(),
        "DRIFTLOOP_SPEC": str(short_lease_spec(shared_state, tmp_path / "spec.yaml")),
    }
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftloop", "retrain", "--model-dir", str(killed_dir),
         "--current-data-path", str(data)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed.log").open("wb"),
    )  # fmt: skip
    try:
        # halfway: it holds the lease (taken before any work) and has not finished
        wait_until(lambda: proc.poll() is not None or store.exists(lease_key("retrain")), 180)
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    assert tracker.resolve("champion").version == champion
    assert store.read_json("datasets/latest.json") == latest
    assert not (killed_dir / "retrain-result.json").exists()
    stale = read_lease(store, "retrain")
    assert stale is not None  # the dead holder's lease stays until it expires
    wait_until(lambda: time.time() > float(stale["expires_at"]) + 0.5, 3 * LEASE_TTL_S)

    model_dir = tmp_path / "second"
    second = run_cli(["retrain", "--no-promote", "--model-dir", str(model_dir),
                      "--current-data-path", str(data)], env)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "took over a stale retrain lease" in second.stderr
    assert stale["holder"] in second.stderr
    result = json.loads((model_dir / "retrain-result.json").read_text())
    assert result["status"] == "trained", result.get("reason")  # the gate passed
    assert result["champion_version"] == champion
    assert read_lease(store, "retrain") is None  # released when it finished
    assert tracker.resolve("champion").version == champion

    # The challenger's files vanish between the gate and the promote step.
    challenger = result["challenger_version"]
    artifacts = model_file(tracker, challenger).parent
    shutil.rmtree(artifacts)
    promoted = run_cli(["promote", "--model-dir", str(model_dir)], env)
    assert promoted.returncode == 1, (promoted.stdout, promoted.stderr)
    message = " ".join(promoted.stderr.split())
    assert f"challenger v{challenger} artifacts are missing or changed" in message, message
    assert "champion left as is" in message and "Traceback" not in promoted.stderr
    assert tracker.resolve("champion").version == champion
    assert store.read_json("datasets/latest.json") == latest
