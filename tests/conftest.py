"""Shared fixtures: real servers on 127.0.0.1 started by the tests and stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TELCO = ROOT / "data" / "telco_churn.csv"
TELCO_SPEC = ROOT / "configs" / "telco.yaml"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


class MotoServer:
    """moto's S3 server on 127.0.0.1 (a real S3-protocol endpoint)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "moto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def env(self, bucket: str) -> dict[str, str]:
        """Environment that points driftloop at this server."""
        return {
            "DRIFTLOOP_STORE_URL": f"s3://{bucket}/driftloop",
            "DRIFTLOOP_S3__ENDPOINT_URL": self.endpoint,
            "DRIFTLOOP_S3__ACCESS_KEY_ID": "testing",
            "DRIFTLOOP_S3__SECRET_ACCESS_KEY": "testing",
        }

    def make_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=name)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def state_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A temporary state folder and the environment variables that select it."""
    env = {"DRIFTLOOP_STATE_DIR": str(tmp_path / "state"), "DRIFTLOOP_SPEC": str(TELCO_SPEC)}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `driftloop` command in a subprocess, as a user would."""
    # hermetic: no DRIFTLOOP_/MLFLOW_ variable leaks in from the test process (in-process
    # tests set MLFLOW_TRACKING_URI and friends), only what the test passes
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DRIFTLOOP_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY", "MLFLOW_EXPERIMENT", "MLFLOW_RUN")
        )
    }
    full_env = {**inherited, "MLFLOW_DISABLE_TELEMETRY": "true", **env, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "driftloop", *args],
        env=full_env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def light_spec_data() -> dict:
    """The telco spec with two quick candidates (for tests that need a trained champion)."""
    import yaml

    data = yaml.safe_load(TELCO_SPEC.read_text())
    data["source"] = str(TELCO)
    data["candidates"] = [
        {"name": "logistic_regression", "kind": "logistic_regression", "params": {"max_iter": 500}},
        {
            "name": "lightgbm",
            "kind": "lightgbm",
            "params": {"n_estimators": 60, "num_leaves": 15, "verbose": -1, "random_state": 1},
        },
    ]
    return data


@pytest.fixture(scope="session")
def trained_state(trained_session: dict[str, str]) -> dict[str, str]:
    """The session's trained state (``tests/serve`` overrides this name with its own copy)."""
    return trained_session


@pytest.fixture(scope="session")
def trained_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A state folder with a prepared telco dataset and a trained champion (built once).
    Tests copy it before changing it (``trained_env``, ``copy_state``), so it stays as trained."""
    import yaml

    root = tmp_path_factory.mktemp("trained")
    spec = root / "spec.yaml"
    spec.write_text(yaml.safe_dump(light_spec_data()))
    env = {"DRIFTLOOP_STATE_DIR": str(root / "state"), "DRIFTLOOP_SPEC": str(spec)}
    for cmd in (["prepare"], ["train"]):
        result = run_cli(cmd, env)
        assert result.returncode == 0, result.stderr
    return env


def registry_client(state_dir: Path | str) -> Any:
    """An MLflow client on a state folder's registry.

    Both URIs are explicit: ``MlflowClient(uri)`` alone takes the registry from the process'
    globals, which any in-process ``Tracker`` of another test has set to its own database.
    """
    import mlflow

    uri = f"sqlite:///{Path(state_dir) / 'mlflow.db'}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def relocate_registry(db: Path, old: Path, new: Path) -> None:
    """Point a copied MLflow database's absolute artifact locations (experiment, runs, model
    versions, logged models) from ``old`` to ``new``, or the copy would keep writing into,
    and reading from, the original's artifact folder."""
    import sqlite3

    before, after = str(old.resolve()), str(new.resolve())
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for _, column, kind, *_ in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
                if any(t in kind.upper() for t in ("CHAR", "TEXT", "CLOB")):
                    conn.execute(
                        f'UPDATE "{table}" SET "{column}" = REPLACE("{column}", ?, ?) '
                        f'WHERE "{column}" LIKE ?',
                        (before, after, f"%{before}%"),
                    )


def copy_state(src: Path, dst: Path) -> None:
    """Copy a local state folder so that the copy owns its registry *and* its artifacts."""
    shutil.copytree(src, dst)
    relocate_registry(dst / "mlflow.db", src, dst)


@pytest.fixture()
def trained_env(
    trained_state: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A private copy of the trained state for one test (registry, artifacts, store)."""
    src = Path(trained_state["DRIFTLOOP_STATE_DIR"])
    dst = tmp_path / "state"
    copy_state(src, dst)
    env = dict(trained_state, DRIFTLOOP_STATE_DIR=str(dst))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
