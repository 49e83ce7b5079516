"""`driftloop detect --no-report` and `driftloop status` on a trained state know the champion
from its record in the store and never import MLflow (about a second of each command) once
the first check after a promotion has cached what it needed; the figures they give are the
same as the first check's, which read the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from driftloop.adapters.champion_record import champion_key

from ..support.processes import run_cli

pytestmark = pytest.mark.e2e
HEAVY = ("mlflow", "sklearn", "scipy", "evidently")
"""Libraries a steady-state detect or status has no work for."""


def log_window(state, rows: int = 600) -> None:
    """Logged rows served by the champion (its reference's test split, outputs included)."""
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key

    frame = state.split("test").head(rows).reset_index(drop=True)
    first = datetime.now(UTC) - timedelta(minutes=5)
    frame.insert(0, "source", "api")
    frame.insert(0, "model_version", state.champion())
    frame.insert(0, "ts", [first + timedelta(milliseconds=i) for i in range(len(frame))])
    frame.insert(0, "request_id", [f"r-{i}" for i in range(len(frame))])
    frame["prediction"], frame["probability"] = "No", 0.25
    frame = frame.drop(columns=["churn"], errors="ignore")
    state.store().write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)), frame)


def imported(stderr: str) -> set[str]:
    """Top-level packages a ``PYTHONPROFILEIMPORTTIME=1`` run imported."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def traced(state, *args: str):
    result = run_cli(list(args), {**state.env(), "PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode in (0, 3), result.stdout + result.stderr[-3000:]
    return result, imported(result.stderr)


def test_steady_state_detect_and_status_do_not_import_mlflow(module_state, tmp_path):
    store = module_state.store()
    record = store.read_json(champion_key("driftloop-model"))
    assert record["version"] == module_state.champion() and record["written_by"] == "promote"
    assert record["tags"]["dataset_version"] and record["tags"]["artifact_sha256"]
    log_window(module_state)

    first, first_mods = traced(module_state, "detect", "--no-report", "--output",
                               str(tmp_path / "first.json"))  # fmt: skip
    assert "mlflow" in first_mods, "the first check loads the model once (cache fill)"
    second, second_mods = traced(module_state, "detect", "--no-report", "--output",
                                 str(tmp_path / "second.json"))  # fmt: skip
    assert not second_mods & set(HEAVY), sorted(second_mods & set(HEAVY))

    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("first", "second"))
    assert a["model_version"] == b["model_version"] == module_state.champion()
    assert a["summary"]["prediction"] == b["summary"]["prediction"] is not None
    assert a["estimated_performance"]["estimated"] == b["estimated_performance"]["estimated"]
    assert a["decision"]["fired"] == b["decision"]["fired"]

    status, status_mods = traced(module_state, "status", "--json")
    assert not status_mods & set(HEAVY), sorted(status_mods & set(HEAVY))
    model = json.loads(status.stdout)["model"]
    assert model["version"] == module_state.champion()
    assert model["origin"]["from"] == "record" and model["origin"]["written_by"] == "promote"


def test_without_a_record_detect_and_status_ask_the_registry_and_write_it(fresh_state, tmp_path):
    store = fresh_state.store()
    store.delete(champion_key("driftloop-model"))

    status = run_cli(["status", "--json"], fresh_state.env())
    assert status.returncode == 0, status.stderr
    model = json.loads(status.stdout)["model"]
    assert model["version"] == fresh_state.champion() and model["origin"]["from"] == "registry"
    assert store.read_json(champion_key("driftloop-model"))["written_by"] == "status"

    store.delete(champion_key("driftloop-model"))
    log_window(fresh_state)
    out = tmp_path / "summary.json"
    result = run_cli(["detect", "--no-report", "--output", str(out)], fresh_state.env())
    assert result.returncode in (0, 3), result.stderr
    assert json.loads(out.read_text())["model_version"] == fresh_state.champion()
    record = store.read_json(champion_key("driftloop-model"))
    assert record["version"] == fresh_state.champion() and record["written_by"] == "detect"
