"""The WorkflowTemplate's steps run locally in order, gated as Argo would gate them.

A recording program stands in for ``driftloop`` here (it logs its arguments and chosen
environment, and exits with the code a test asks for), so these tests pin down the runner:
order, parameters, paths, conditions. ``check_local_run`` runs the real CLI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftloop_cluster import workflow
from driftloop_cluster.local_run import (
    default_parameters,
    evaluate_when,
    run_succeeded,
    run_workflow_locally,
)

RECORDER = """
import json, os, sys
record = {"argv": sys.argv[1:], "cwd": os.getcwd(),
          "env": {k: v for k, v in os.environ.items() if k.startswith(("DRIFTLOOP_", "AWS_"))}}
with open(os.environ["RECORD_FILE"], "a") as f:
    f.write(json.dumps(record) + "\\n")
sys.exit(int(os.environ.get("EXIT_" + sys.argv[1].upper(), "0")))
"""


@pytest.fixture()
def template() -> dict[str, Any]:
    return yaml.safe_load(workflow.render_drift_retrain_template())


@pytest.fixture()
def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    return [sys.executable, str(script)], tmp_path / "records.jsonl"


def _run(
    template: dict[str, Any],
    tmp_path: Path,
    recorder: tuple[list[str], Path],
    exits: dict[str, int] | None = None,
    **kwargs: Any,
) -> tuple[list[Any], list[dict[str, Any]]]:
    program, records = recorder
    env = {
        "RECORD_FILE": str(records),
        **{f"EXIT_{k.upper()}": str(v) for k, v in (exits or {}).items()},
    }
    env.update(kwargs.pop("env", {}))
    runs = run_workflow_locally(template, tmp_path / "state", driftloop=program, env=env, **kwargs)
    lines = records.read_text().splitlines() if records.exists() else []
    return runs, [json.loads(line) for line in lines]


def test_no_drift_found_runs_detect_only(template, tmp_path, recorder) -> None:
    runs, records = _run(template, tmp_path, recorder, exits={"detect": 0})
    assert [r.name for r in runs] == list(workflow.STEP_ORDER)
    assert [r["argv"][0] for r in records] == ["event", "detect"]  # event verify, then detect
    assert all(r.skipped and r.skipped.startswith("when:") for r in runs[2:])
    assert run_succeeded(runs, {"detect": {0, 3}})


def test_retrain_decided_runs_every_step_in_order(template, tmp_path, recorder) -> None:
    runs, records = _run(template, tmp_path, recorder, exits={"detect": 3})
    assert [r["argv"][0] for r in records] == ["event", *workflow.STEP_ORDER[1:]]
    assert [r.exit_code for r in runs] == [0, 3, 0, 0, 0, 0]
    assert run_succeeded(runs, {"detect": {0, 3}})
    assert not run_succeeded(runs, {})


def test_parameters_paths_and_environment(template, tmp_path, recorder) -> None:
    _, records = _run(template, tmp_path, recorder, exits={"detect": 3}, env={"DRIFTLOOP_X": "1"})
    state = (tmp_path / "state").resolve()
    work = state / "volumes" / "work"
    retrain = next(r for r in records if r["argv"][0] == "retrain")
    argv = retrain["argv"]
    assert argv[argv.index("--data-dir") + 1] == (state / "store").as_uri()
    assert argv[argv.index("--model-dir") + 1] == str(work / "model")
    assert argv[argv.index("--reference-data-path") + 1] == ""
    assert "--no-promote" in argv
    env = retrain["env"]
    assert env["DRIFTLOOP_STORE_URL"] == (state / "store").as_uri()
    assert env["DRIFTLOOP_STATE_DIR"] == str(work / "state")
    assert env["DRIFTLOOP_X"] == "1"
    assert "DRIFTLOOP_S3__SECRET_ACCESS_KEY" not in env  # Secrets live in the cluster only
    reload = next(r for r in records if r["argv"][0] == "reload")
    argv = reload["argv"]
    assert argv[argv.index("--url") + 1] == (
        "http://driftloop-api.fastapi.svc.cluster.local:8000/admin/reload"
    )
    assert (
        argv[argv.index("--mlserver-url") + 1] == "http://mlserver.mlserver.svc.cluster.local:8080"
    )


def test_cluster_settings_of_the_caller_do_not_leak(
    template, tmp_path, recorder, monkeypatch
) -> None:
    monkeypatch.setenv("DRIFTLOOP_S3__ENDPOINT_URL", "http://minio.minio:9000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "placeholder")
    _, records = _run(template, tmp_path, recorder)
    assert "DRIFTLOOP_S3__ENDPOINT_URL" not in records[0]["env"]
    assert "AWS_SECRET_ACCESS_KEY" not in records[0]["env"]


def test_forced_retrain_and_overrides(template, tmp_path, recorder) -> None:
    runs, records = _run(
        template,
        tmp_path,
        recorder,
        exits={"detect": 0},
        parameters={"force-retrain": "true", "api-url": "http://127.0.0.1:9"},
        skip={"reload"},
    )
    assert [r["argv"][0] for r in records] == ["event", "detect", "retrain", "evaluate", "promote"]
    assert runs[-1].skipped == "excluded from this run"


def test_a_failed_detect_stops_the_loop_but_not_the_workflow(template, tmp_path, recorder) -> None:
    runs, records = _run(template, tmp_path, recorder, exits={"detect": 1})
    assert len(records) == 2
    assert not run_succeeded(runs, {"detect": {0, 3}})


def test_a_rejected_event_stops_everything(template, tmp_path, recorder) -> None:
    runs, records = _run(template, tmp_path, recorder, exits={"event": 2, "detect": 3})
    assert [r["argv"][0] for r in records] == ["event"]
    assert not run_succeeded(runs, {"detect": {0, 3}})


def test_a_failed_retrain_skips_the_rest(template, tmp_path, recorder) -> None:
    runs, records = _run(template, tmp_path, recorder, exits={"detect": 3, "retrain": 1})
    assert [r["argv"][0] for r in records] == ["event", "detect", "retrain"]
    assert [r.skipped for r in runs[3:]] == ["step retrain failed (exit 1)"] * 3
    assert not run_succeeded(runs, {"detect": {0, 3}})


def test_retries_replay_the_retry_strategy_only_when_asked(template, tmp_path, recorder) -> None:
    """detect's retryStrategy retries exit 1 (limit 2); exit 2 is an answer, not retried."""
    runs, records = _run(template, tmp_path, recorder, exits={"detect": 1})
    assert next(r for r in runs if r.name == "detect").attempts == 1
    runs, records = _run(
        template, tmp_path, recorder, exits={"detect": 1}, retries=True, backoff_scale=0.0
    )
    assert [r.attempts for r in runs[:2]] == [1, 3]
    assert [r["argv"][0] for r in records][-3:] == ["detect"] * 3
    runs, _ = _run(
        template, tmp_path, recorder, exits={"detect": 2}, retries=True, backoff_scale=0.0
    )
    assert next(r for r in runs if r.name == "detect").attempts == 1


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("3 == 3 || false == true", True),
        ("0 == 3 || false == true", False),
        ("0 == 3 || true == true", True),
        ("1 != 0 && 2 > 1", True),
        ("1 != 0 && 2 < 1", False),
        ("(0 == 3) || ('a' == 'a')", True),
        ("true", True),
    ],
)
def test_when_expressions(expression: str, value: bool) -> None:
    assert evaluate_when(expression) is value


def test_unknown_expressions_are_errors_not_guesses() -> None:
    with pytest.raises(ValueError):
        evaluate_when("len(x) > 1")


def test_default_parameters(template) -> None:
    assert default_parameters(template) == workflow.PARAMETER_DEFAULTS
