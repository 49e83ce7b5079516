"""A trained champion (trained once per session) and real `driftloop serve` processes.

The session state (``tests/conftest.py::trained_state``) is prepared and trained with the real
CLI on the telco data, with a light spec (logistic regression + a small LightGBM). Tests that
change the registry work on a clone: a fresh state folder with the same dataset files and the
champion's pipeline logged and registered again through ``Tracker``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import copy_state, free_port, stop_process, wait_for_port

ADMIN_TOKEN = "test-admin-token-not-a-secret"
MODEL_NAME = "driftloop-model"


@dataclass(frozen=True)
class TrainedState:
    """A state folder with a prepared dataset and a registered champion."""

    root: Path
    spec: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def store_url(self) -> str:
        return (self.state_dir / "store").as_uri()

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.state_dir / 'mlflow.db'}"

    def env(self) -> dict[str, str]:
        return {
            "DRIFTLOOP_STATE_DIR": str(self.state_dir),
            "DRIFTLOOP_SPEC": str(self.spec),
            "DRIFTLOOP_ADMIN_TOKEN": ADMIN_TOKEN,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    def settings(self, **overrides: Any) -> Any:
        from driftloop.config.settings import Settings

        return Settings(state_dir=self.state_dir, spec=self.spec, **overrides)


@pytest.fixture(scope="session")
def trained_state(
    trained_session: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> TrainedState:
    """A copy, for the serve tests, of the session's trained state (``tests/conftest.py``:
    prepare + train once with the real CLI). Servers here log, check drift and write reports
    into it; the session state stays as trained for the tests that copy it later."""
    root = tmp_path_factory.mktemp("serve-trained")
    copy_state(Path(trained_session["DRIFTLOOP_STATE_DIR"]), root / "state")
    return TrainedState(root, Path(trained_session["DRIFTLOOP_SPEC"]))


@pytest.fixture()
def fresh_state(trained_session: dict[str, str], tmp_path: Path) -> TrainedState:
    """A private copy of the session state as trained, for a test whose outcome depends on
    what was logged (the drift monitor's windows): no other test's traffic in it."""
    copy_state(Path(trained_session["DRIFTLOOP_STATE_DIR"]), tmp_path / "fresh" / "state")
    return TrainedState(tmp_path / "fresh", Path(trained_session["DRIFTLOOP_SPEC"]))


def tracker_for(state: TrainedState) -> Any:
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

    settings = state.settings()
    return Tracker(settings, ObjectStore.from_settings(settings))


def register_pipeline(tracker: Any, pipeline: Any, dataset_version: str, name: str) -> str:
    """Log a fitted pipeline in a run and register it; returns the new version."""
    from driftloop.adapters.datasets import open_dataset

    train = open_dataset(tracker.store, dataset_version).frame("train")
    features = list(pipeline.named_steps["preprocess"].feature_names_in_)
    with tracker.run(name, tags={"dataset_version": dataset_version}) as run_id:
        uri = tracker.log_pipeline(pipeline, train[features], classification=True)
    info = tracker.register(
        uri, run_id, tags={"dataset_version": dataset_version, "candidate": name}
    )
    return str(info.version)


def clone_state(base: TrainedState, root: Path) -> TrainedState:
    """A fresh registry whose champion is the base champion's pipeline, same datasets."""
    root.mkdir(parents=True, exist_ok=True)
    clone = TrainedState(root, base.spec)
    shutil.copytree(base.state_dir / "store" / "datasets",
                    clone.state_dir / "store" / "datasets")  # fmt: skip
    source = tracker_for(base)
    champion = source.resolve("champion")
    pipeline = source.load_pipeline(champion.version)
    tracker = tracker_for(clone)
    version = register_pipeline(tracker, pipeline, champion.dataset_version, "clone")
    tracker.set_alias("champion", version)
    return clone


class ServerProcess:
    """`python -m driftloop serve` on a free port, stopped by pid."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "COLUMNS": "200"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready: bool = True, timeout: float = 180.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftloop", "serve", "--port", str(self.port)],
            env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port, timeout=timeout, proc=self.proc)
        if ready:
            deadline = time.time() + timeout
            while httpx.get(self.base_url + "/health/ready").status_code != 200:
                assert time.time() < deadline, self.log()
                time.sleep(0.2)
        return self

    def stop(self) -> bool:
        """SIGTERM and wait; True when the shutdown was graceful (lifespan completed).

        uvicorn re-raises the signal after a graceful shutdown, so the exit status is -15.
        """
        assert self.proc is not None
        stop_process(self.proc, timeout=60)
        return self.proc.returncode in (0, -15) and "Application shutdown complete" in self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)


def serve_env(state: TrainedState, **server: Any) -> dict[str, str]:
    """Environment for a server on a state, with DRIFTLOOP_SERVER__* overrides."""
    env = state.env()
    env.update({f"DRIFTLOOP_SERVER__{k.upper()}": str(v) for k, v in server.items()})
    return env


def module_server(log_name: str, **server: Any) -> Any:
    """A module-scoped ``server`` fixture: one server on ``trained_state`` with these
    DRIFTLOOP_SERVER__* settings, stopped gracefully (asserted) when the module is done."""

    @pytest.fixture(scope="module", name="server")
    def fixture(
        trained_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ServerProcess]:
        env = serve_env(trained_state, **server)
        proc = ServerProcess(env, tmp_path_factory.mktemp(log_name) / "server.log").start()
        yield proc
        assert proc.stop(), proc.log()

    return fixture


@pytest.fixture()
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start servers in a test; every one still running is stopped at the end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], ready: bool = True) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server.start(ready=ready)

    yield start
    for server in started:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def sample_records(state: TrainedState, n: int) -> tuple[list[dict[str, Any]], Any]:
    """n test-split rows as JSON-ready records, and the frame they came from."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(state.store_url)
    ds = open_dataset(store)
    frame = ds.frame("test").head(n)
    features = [f["name"] for f in ds.schema()["features"]]
    sub = frame[features].astype(object)
    return sub.where(sub.notna(), None).to_dict("records"), frame


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Poll until predicate() returns something other than None or False; returns it."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        time.sleep(interval)
