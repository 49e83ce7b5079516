"""`make manifests-check`'s last step: the WorkflowTemplate's steps, run locally in order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from driftloop_cluster.check import check_local_run

from ..support.state import relocate_registry

pytestmark = pytest.mark.e2e


def test_workflow_steps_close_the_loop_locally(trained_state, tmp_path):
    """detect (exit 3 on the drifted window) -> retrain -> evaluate -> promote, all exit 0."""
    src = trained_state.state_dir

    def setup(state: Path, env: dict[str, str]) -> dict[str, str]:
        # the trained champion's registry and store, where the runner expects them
        shutil.copytree(src / "store", state / "store")
        (state / "state").mkdir()
        shutil.copy(src / "mlflow.db", state / "state" / "mlflow.db")
        relocate_registry(state / "state" / "mlflow.db", src / "store", state / "store")
        env["DRIFTLOOP_SPEC"] = str(trained_state.spec)
        version = pd.read_json(state / "store" / "datasets" / "latest.json", typ="series")[
            "version"
        ]
        window = pd.read_parquet(state / "store" / "datasets" / version / "test.parquet")
        window["monthly_charges"] = window["monthly_charges"] * 1.5 + 20
        window["churn"] = window["churn"].map({1: "Yes", 0: "No"})
        path = state / "current.csv"
        window.to_csv(path, index=False)
        return {"current-data-path": str(path)}

    result, runs = check_local_run(setup=setup)
    assert result.ok, "\n".join(result.details)
    codes = {r.name: r.exit_code for r in runs}
    assert codes["detect"] == 3
    assert all(
        codes[name] == 0
        for name in codes
        if name not in ("detect", "reload") and codes[name] is not None
    ), codes
