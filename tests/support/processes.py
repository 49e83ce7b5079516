"""Real processes on 127.0.0.1, started by the tests and stopped by pid: the `driftloop`
command, `driftloop serve`, and moto's S3 server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .paths import ROOT

T = TypeVar("T")


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


def wait_until(predicate: Callable[[], T], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll until predicate() returns something other than None or False; returns it."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process by its pid: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `driftloop` command in a subprocess, as a user would."""
    # hermetic: no DRIFTLOOP_/MLFLOW_ variable leaks in from the shell that runs the tests
    # (a developer's MLFLOW_TRACKING_URI, say), only what the test passes
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


class MotoServer:
    """moto's S3 server on 127.0.0.1 (a real S3-protocol endpoint); ``with`` starts and
    stops it. It keeps its objects in memory: stopped and started again, it is empty."""

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

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, bucket: str) -> dict[str, str]:
        """Environment that points driftloop at this server."""
        return {
            "DRIFTLOOP_STORE_URL": f"s3://{bucket}/driftloop",
            "DRIFTLOOP_S3__ENDPOINT_URL": self.endpoint,
            "DRIFTLOOP_S3__ACCESS_KEY_ID": "testing",
            "DRIFTLOOP_S3__SECRET_ACCESS_KEY": "testing",
        }

    def client(self) -> Any:
        """A boto3 S3 client on this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def store(self, bucket: str) -> Any:
        """An ObjectStore on a bucket of this server (as ``env(bucket)`` configures one)."""
        from driftloop.adapters.store import ObjectStore
        from driftloop.config.settings import Settings

        settings = Settings(
            store_url=f"s3://{bucket}/driftloop",
            s3={"endpoint_url": self.endpoint, "access_key_id": "testing",
                "secret_access_key": "testing"},
        )  # fmt: skip
        return ObjectStore.from_settings(settings)


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
        import httpx

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

    def client(self, **kwargs: Any) -> Any:
        import httpx

        return httpx.Client(base_url=self.base_url, timeout=30.0, **kwargs)
