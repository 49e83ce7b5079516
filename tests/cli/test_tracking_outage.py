"""An MLflow tracking server that does not answer is an outage: exit 1 naming its URL, so
the workflow's retryStrategy (which retries exit 1 only) retries it. Before, the tracker
took the failed alias lookup for "no champion" and the commands exited 2 (bad input)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker, TrackingUnavailableError
from driftloop.config.settings import Settings

from ..support.processes import run_cli


@pytest.fixture
def dead_url() -> str:
    """A 127.0.0.1 URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _env(state: Path, url: str) -> dict[str, str]:
    return {
        "DRIFTLOOP_STATE_DIR": str(state),
        "DRIFTLOOP_MLFLOW_TRACKING_URI": url,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # MLflow's own back-off would take minutes
    }


@pytest.mark.parametrize(
    "args",
    [
        ["detect"],
        [
            "retrain",
            "--data-dir",
            "{state}/store",
            "--model-dir",
            "{state}/model",
            "--reference-data-path",
            "",
            "--current-data-path",
            "",
        ],
    ],  # fmt: skip
    ids=["detect", "retrain"],
)
def test_an_unreachable_tracking_server_exits_1_naming_it(
    args: list[str], tmp_path: Path, dead_url: str
) -> None:
    argv = [a.format(state=tmp_path) for a in args]
    result = run_cli(argv, _env(tmp_path, dead_url), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    error = " ".join(result.stderr.split())
    assert f"cannot reach the MLflow tracking server at {dead_url}" in error
    assert "Traceback" not in result.stderr


def test_an_answered_lookup_is_not_an_outage(
    tmp_path: Path, dead_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    local = Settings(state_dir=tmp_path)
    assert Tracker(local, ObjectStore.from_settings(local)).alias_version("champion") is None
    remote = Settings(state_dir=tmp_path, mlflow_tracking_uri=dead_url)
    tracker = Tracker(remote, ObjectStore.from_settings(remote))
    with pytest.raises(TrackingUnavailableError, match=dead_url) as err:
        tracker.alias_version("champion")
    assert err.value.exit_code == 1
