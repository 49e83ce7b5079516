"""Shared fixtures: the trained state, moto's S3 server, `driftloop serve` processes, a
temporary state folder; and the order files start in. Helpers that are not fixtures are in
``tests/support``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.paths import TELCO_SPEC
from .support.processes import MotoServer, ServerProcess
from .support.state import TrainedState, train_state

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

SLOW_FIRST = (
    "tests/cluster/test_mlserver.py",  # builds MLServer's venv (cold cache: minutes), serves
    "tests/jobs/test_demo.py",  # the whole loop, from nothing
    "tests/cli/test_cli_spine.py",  # prepare + train with the full telco spec, twice
    "tests/cluster/test_check_local_run.py",  # detect, retrain, evaluate, promote
    "tests/faults/test_fuzz.py",
    "tests/jobs/test_retrain.py",
    "tests/browser/test_dashboard_browser.py",
    "tests/serve/test_reload.py",
    "tests/faults/test_retrain_faults.py",
    "tests/serve/test_monitor.py",
    "tests/jobs/test_s3_spine.py",
)
"""Files that start first, slowest first. `make test` runs whole files on two workers
(``--dist loadfile``) and hands out files in collection order (``--no-loadscope-reorder``
in pyproject.toml; xdist would otherwise order them by their number of tests), so the long
ones start at once and the many short ones fill the gaps at the end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collection order: the ``SLOW_FIRST`` files, then every other file as collected."""
    rank = {path: n for n, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def trained_state(tmp_path_factory: pytest.TempPathFactory) -> TrainedState:
    """A prepared telco dataset and a trained champion (the real CLI, light spec), built once
    per session, that is once per xdist worker. Read it, never write it: a test that writes
    (logs traffic, records reports, moves ``champion``) takes ``module_state`` or
    ``fresh_state``, or copies it with ``TrainedState.copy_to``."""
    return train_state(tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="module")
def module_state(
    trained_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> TrainedState:
    """A copy of the trained state shared by one module's tests (its servers log into it)."""
    return trained_state.copy_to(tmp_path_factory.mktemp("module-state"))


@pytest.fixture()
def fresh_state(trained_state: TrainedState, tmp_path: Path) -> TrainedState:
    """A copy of the trained state for one test: nothing another test did is in it."""
    return trained_state.copy_to(tmp_path / "fresh")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.e2e)])  # s3: a moto process
def file_or_s3_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty object store: a file:// folder, then (e2e) a bucket of the moto server."""
    from driftloop.adapters.store import ObjectStore

    if request.param == "file":
        return ObjectStore((tmp_path / "store").as_uri())
    moto_server = request.getfixturevalue("moto_server")
    bucket = f"store-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    moto_server.make_bucket(bucket)
    return moto_server.store(bucket)


@pytest.fixture()
def state_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A temporary state folder and the environment variables that select it."""
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state"), "DRIFTLOOP_SPEC": str(TELCO_SPEC)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture()
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `driftloop serve` processes in a test; every one still running is stopped (by
    pid) at its end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], ready: bool = True) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server.start(ready=ready)

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
