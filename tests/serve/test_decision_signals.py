"""The decision's new signals end to end through a real server: realised performance on
labelled production rows (concept drift: features from the reference, labels from a changed
relation) and prediction drift (the model's output on the window against the reference)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TrainedState, auth, sample_records, serve_env, wait_until

pytestmark = pytest.mark.e2e


def _spec_with(state: TrainedState, tmp_path: Path, **drift: Any) -> TrainedState:
    """The state's spec with drift-policy overrides, written beside the test."""
    data = yaml.safe_load(state.spec.read_text())
    data["drift"] = {**data.get("drift", {}), **drift}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data))
    return TrainedState(state.root, spec)


def _serve_and_label(server: Any, state: TrainedState, n: int, flip: bool) -> list[str]:
    """Send n test-split rows through /predict/batch and their labels to /feedback (flipped:
    the relation between features and target reversed); the request ids."""
    records, frame = sample_records(state, n)
    spec = yaml.safe_load(state.spec.read_text())
    truth = frame[spec["target"]].astype(int).tolist()
    ids: list[str] = []
    with server.client() as client:
        for start in range(0, n, 100):
            got = client.post("/predict/batch", json={"records": records[start : start + 100]})
            assert got.status_code == 200, got.text
            ids += [p["request_id"] for p in got.json()["predictions"]]
        names = {1: spec["positive_class"], 0: "No" if spec["positive_class"] == "Yes" else "Yes"}
        labels = [
            {"request_id": rid, "label": names[1 - y if flip else y]}
            for rid, y in zip(ids, truth, strict=True)
        ]
        sent = client.post("/feedback", json={"labels": labels}, headers=auth())
        assert sent.status_code == 200, sent.text
    return ids


def _logged(state: TrainedState, rows: int) -> None:
    """Wait until the server flushed ``rows`` predictions and their labels to the store."""
    from driftloop.adapters.production_data import read_feedback, read_inference_log
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(state.store_url)
    wait_until(lambda: len(read_inference_log(store)) >= rows, timeout=60)
    wait_until(lambda: len(read_feedback(store)) >= rows, timeout=60)


def _detect(state: TrainedState, out: Path) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, **state.env(), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "driftloop", "detect", "--no-report", "--output", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr + proc.stdout
    return proc.returncode, json.loads(out.read_text())


def _labelled_window(
    base: TrainedState, server_factory: Any, tmp_path: Path, flip: bool
) -> tuple[TrainedState, Any, int, dict[str, Any]]:
    """A server on a calibrated-mode copy of the spec, 400 labelled rows through it, then one
    ``detect``: (state, server, exit code, report)."""
    state = _spec_with(base, tmp_path, mode="calibrated", cooldown_s=0)
    server = server_factory(serve_env(state, monitor_every_rows=0, log_flush_interval_s=0.3))
    _serve_and_label(server, state, 400, flip=flip)
    _logged(state, 400)
    code, report = _detect(state, tmp_path / "first.json")
    return state, server, code, report


def test_concept_drift_is_a_performance_retrain_with_no_feature_drift(
    fresh_state, server_factory, tmp_path
):
    _, _, code, report = _labelled_window(fresh_state, server_factory, tmp_path, flip=True)

    decision = report["decision"]
    assert report["summary"]["drifted_features"] == []
    assert decision["window_drifted"] is False
    assert code == 3 and decision["retrain"] is True
    assert decision["triggered_by"] == ["performance"]
    perf = report["performance"]
    assert perf["breached"] is True and perf["rows"] == 400
    assert perf["baseline_source"] == "test_roc_auc tag"
    assert perf["score"] < perf["baseline"] - 0.2  # flipped labels: far below the test score
    assert set(perf["metrics"]) == {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}
    # prediction drift is reported like a feature: same inputs, same outputs -> not drifted
    prediction = report["summary"]["prediction"]
    assert prediction["feature"] == "prediction" and prediction["drifted"] is False
    assert prediction["mode"] == "calibrated"
    assert report["summary"]["mode"] == "calibrated"
    assert all(f["mode"] == "calibrated" for f in report["summary"]["features"])


def test_true_labels_do_not_breach_and_shifted_inputs_move_the_predictions(
    fresh_state, server_factory, tmp_path
):
    state, server, code, report = _labelled_window(fresh_state, server_factory, tmp_path, False)
    assert code == 0 and report["decision"]["retrain"] is False
    assert report["performance"]["breached"] is False
    assert report["summary"]["prediction"]["drifted"] is False

    with server.client() as client:
        sent = client.post(
            "/simulate-drift", json={"drift_type": "numerical_shift", "n": 1000}, headers=auth()
        )
        assert sent.status_code == 200, sent.text
    _logged_rows = 1400
    from driftloop.adapters.production_data import read_inference_log
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(state.store_url)
    wait_until(lambda: len(read_inference_log(store)) >= _logged_rows, timeout=60)
    _, shifted = _detect(state, tmp_path / "shifted.json")
    prediction = shifted["summary"]["prediction"]
    assert prediction["drifted"] is True, prediction
    signals = {s["signal"]: s for s in shifted["decision"]["signals"]}
    assert signals["prediction_drift"]["fired"] is True
    assert signals["prediction_drift"]["trigger"] is False  # reported; a trigger only by spec
    assert "prediction_drift" in shifted["decision"]["fired"]
