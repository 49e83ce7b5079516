"""The real `driftloop` command refuses a misspelled DRIFTLOOP_* variable: exit 2, a message
naming it, no traceback, nothing done (not even a server started)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..support.processes import free_port, run_cli

pytestmark = pytest.mark.e2e


def assert_refused(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr[-2000:])
    message = " ".join(result.stderr.split())
    for name in names:
        assert name in message, message
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_a_nested_typo_is_exit_2_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"DRIFTLOOP_STATE_DIR": str(state), "DRIFTLOOP_SERVER__MONITOR_EVERY_ROW": "0"}
    result = run_cli(["prepare"], env)
    assert_refused(
        result,
        "DRIFTLOOP_SERVER__MONITOR_EVERY_ROW",
        "did you mean DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS",
    )
    assert not state.exists()  # refused before any work


def test_a_top_level_typo_is_exit_2_naming_it(tmp_path: Path) -> None:
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state"), "DRIFTLOOP_WEBHOOK_SECRET": "s"}
    assert_refused(
        run_cli(["detect"], env), "DRIFTLOOP_WEBHOOK_SECRET", "DRIFTLOOP_WEBHOOK__SECRET"
    )
    assert_refused(run_cli(["demo", "--state-dir", str(tmp_path / "demo")], env),
                   "DRIFTLOOP_WEBHOOK_SECRET")  # fmt: skip
    assert not (tmp_path / "demo").exists()


def test_an_unknown_key_in_a_json_value_is_exit_2_naming_it(tmp_path: Path) -> None:
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state"), "DRIFTLOOP_SERVER": '{"prot": 1}'}
    assert_refused(run_cli(["status"], env), "unknown setting 'server.prot'")


def test_serve_refuses_to_start(tmp_path: Path) -> None:
    """The command exits 2 before uvicorn starts (run_cli returning at all shows it did not
    go on serving)."""
    env = {
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_SERVER__RELOAD_INTERVAL": "1",
    }
    result = run_cli(["serve", "--port", str(free_port())], env, timeout=120)
    assert_refused(
        result, "DRIFTLOOP_SERVER__RELOAD_INTERVAL ", "DRIFTLOOP_SERVER__RELOAD_INTERVAL_S"
    )
    assert "Uvicorn running" not in result.stderr
