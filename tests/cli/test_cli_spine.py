"""End to end, as a user runs it: prepare, train, evaluate on the real telco data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ..support.paths import ROOT, TELCO, TELCO_SPEC
from ..support.processes import run_cli
from ..support.state import registry_client

pytestmark = pytest.mark.e2e


def store_files(state: Path) -> set[Path]:
    root = state / "store"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_prepare_train_evaluate_on_telco(tmp_path):
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state")}
    first = run_cli(["prepare"], env)
    assert first.returncode == 0, first.stderr
    assert "blank -> missing: total_charges" in first.stdout
    state = tmp_path / "state"
    (version_dir,) = (state / "store" / "datasets").glob("*/manifest.json")
    version = version_dir.parent.name
    manifest = json.loads(version_dir.read_text())
    assert set(manifest["files"]) == {
        "train.parquet",
        "valid.parquet",
        "test.parquet",
        "reference.parquet",
    }
    assert (
        sum(manifest["files"][f"{s}.parquet"]["rows"] for s in ("train", "valid", "test"))
        == manifest["cleaning"]["rows_out"]
    )
    mtimes = {p: p.stat().st_mtime_ns for p in version_dir.parent.iterdir()}

    again = run_cli(["prepare"], env)
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in version_dir.parent.iterdir()} == mtimes

    trained = run_cli(["train"], env)
    assert trained.returncode == 0, trained.stderr
    assert "alias champion -> v1" in trained.stdout
    for name in ("logistic_regression", "random_forest", "hist_gradient_boosting", "lightgbm"):
        assert name[:12] in trained.stdout

    out = tmp_path / "eval.json"
    evaluated = run_cli(["evaluate", "--alias", "champion", "--output", str(out)], env)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(out.read_text())
    assert result["dataset_version"] == version
    assert result["metrics"]["roc_auc"] >= 0.83
    assert list((state / "store" / "evaluations").rglob("*.json"))

    client = registry_client(state)
    champion = client.get_model_version_by_alias("driftloop-model", "champion")
    assert champion.tags["dataset_version"] == version
    assert "artifact_sha256" in champion.tags
    runs = client.search_runs([client.get_experiment_by_name("driftloop").experiment_id])
    names = {r.info.run_name for r in runs}
    assert {"logistic_regression", "lightgbm", f"train-{version}"} <= names


def write_spec(tmp_path: Path, source: Path, **changes) -> Path:
    data = yaml.safe_load(TELCO_SPEC.read_text()) | {"source": str(source)} | changes
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def corrupt(tmp_path: Path, fn) -> Path:
    import pandas as pd

    frame = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    frame = fn(frame)
    p = tmp_path / "bad.csv"
    frame.to_csv(p, index=False)
    return p


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "source file not found"),
        ("missing_target", "target column 'churn' is not in the data"),
        ("missing_feature", "not in the data: tenure"),
        ("one_class", "one class"),
        ("unknown_key", "unknown key 'candidatess'"),
        ("garbage_numeric", "numeric column 'monthly_charges'"),
    ],
)
def test_bad_input_exit_2_and_nothing_written(tmp_path, case, message):
    if case == "missing_file":
        spec = write_spec(tmp_path, tmp_path / "nope.csv")
    elif case == "missing_target":
        spec = write_spec(tmp_path, corrupt(tmp_path, lambda f: f.drop(columns=["churn"])))
    elif case == "missing_feature":
        spec = write_spec(tmp_path, corrupt(tmp_path, lambda f: f.drop(columns=["tenure"])))
    elif case == "one_class":
        spec = write_spec(tmp_path, corrupt(tmp_path, lambda f: f.assign(churn="No")))
    elif case == "unknown_key":
        spec = write_spec(tmp_path, TELCO, candidatess=[])
    else:
        spec = write_spec(tmp_path, corrupt(tmp_path, lambda f: f.assign(monthly_charges="lots")))
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state")}
    result = run_cli(["prepare", "--spec", str(spec)], env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in " ".join(result.stderr.split())
    assert store_files(tmp_path / "state") == set()


def test_train_before_prepare_is_a_clear_error(tmp_path):
    result = run_cli(["train"], {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2
    assert "driftloop prepare" in result.stderr


def test_help_lists_commands():
    result = run_cli(["--help"], {}, cwd=ROOT)
    assert result.returncode == 0
    for cmd in ("prepare", "train", "evaluate"):
        assert cmd in result.stdout
