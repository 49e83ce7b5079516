"""`driftloop detect` through the CLI against a trained champion's reference."""

from __future__ import annotations

import json

import pytest

from driftloop.adapters.reports import report_key

from ..support.processes import run_cli

pytestmark = pytest.mark.e2e


def test_no_drift_on_held_out_rows_exit_0(fresh_state, tmp_path):
    current = tmp_path / "current.parquet"
    fresh_state.split("test").to_parquet(current)
    out = tmp_path / "summary.json"
    result = run_cli(
        ["detect", "--current-data-path", str(current), "--output", str(out)], fresh_state.env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decision: no retrain" in result.stdout
    summary = json.loads(out.read_text())
    assert summary["decision"]["retrain"] is False
    store = fresh_state.store()
    assert store.exists(report_key(summary["report_id"], "drift.html"))


def test_numerical_shift_exit_3_with_report_and_event(fresh_state, tmp_path):
    frame = fresh_state.split("test")
    frame["monthly_charges"] = frame["monthly_charges"] * 1.5 + 20
    current = tmp_path / "current.parquet"
    frame.to_parquet(current)
    out = tmp_path / "summary.json"
    env = dict(
        fresh_state.env(),
        DRIFTLOOP_WEBHOOK__URL="http://127.0.0.1:9/closed",
        DRIFTLOOP_WEBHOOK__RETRIES="1",
    )
    result = run_cli(["detect", "--current-data-path", str(current), "--output", str(out)], env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "decision: retrain" in result.stdout
    summary = json.loads(out.read_text())
    assert "monthly_charges" in summary["summary"]["drifted_features"]
    reasons = summary["decision"]["reasons"]
    assert any(r.startswith("key feature monthly_charges drifted") for r in reasons), reasons
    store = fresh_state.store()
    html = store.read_bytes(report_key(summary["report_id"], "drift.html"))
    assert b"monthly_charges" in html and len(html) > 100_000
    drift_json = store.read_json(report_key(summary["report_id"], "drift.json"))
    ev = drift_json["evidently"]["columns"]["monthly_charges"]
    assert ev["drifted"] is True


def test_missing_current_file_is_exit_2(fresh_state, tmp_path):
    result = run_cli(
        ["detect", "--current-data-path", str(tmp_path / "none.parquet")], fresh_state.env()
    )
    assert result.returncode == 2
    assert "data file not found" in result.stderr
