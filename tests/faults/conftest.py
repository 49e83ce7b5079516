"""Fault tests share the session's trained champion (``tests/conftest.py::trained_state``).

Servers here run as real ``driftloop serve`` processes (starting one costs seconds, so
they are few). The store-outage and crash tests read that session registry (SQLite) and
write to a store of their own, a moto bucket holding a copy of the dataset files. The
fuzz, auth, artifact and retrain tests share one clone of the registry (``shared_state``,
its own SQLite database and artifacts) and one server on it (``shared_server``): each of
those tests leaves ``champion`` where it found it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import MotoServer
from ..serve.conftest import (  # noqa: F401 - server_factory: a fixture for these tests
    ServerProcess,
    TrainedState,
    clone_state,
    serve_env,
    server_factory,
)

QUIET_SERVER = {"reload_interval_s": 0, "monitor_every_rows": 0}
"""Server settings for fault tests: no registry watcher, no in-server drift check."""


@pytest.fixture(scope="session")
def base_state(trained_state: dict[str, str]) -> TrainedState:
    """The session's trained state (prepared telco data, registered champion)."""
    state_dir = Path(trained_state["DRIFTLOOP_STATE_DIR"])
    return TrainedState(state_dir.parent, Path(trained_state["DRIFTLOOP_SPEC"]))


@pytest.fixture(scope="package")
def shared_state(
    base_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> TrainedState:
    """A registry of this package's own whose champion is the session champion's pipeline."""
    return clone_state(base_state, tmp_path_factory.mktemp("faults-clone"))


@pytest.fixture(scope="package")
def shared_server(
    shared_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server on the shared clone: reloads only on /admin/reload, no drift monitor."""
    env = serve_env(shared_state, **QUIET_SERVER, log_flush_interval_s=0.5)
    server = ServerProcess(env, tmp_path_factory.mktemp("faults-server") / "server.log")
    server.start()
    yield server
    assert server.stop(), server.log()


def copy_datasets(base: TrainedState, store: Any) -> None:
    """The base store's dataset files into another store (local folder or bucket)."""
    root = base.state_dir / "store"
    for path in sorted((root / "datasets").rglob("*")):
        if path.is_file():
            store.write_bytes(path.relative_to(root).as_posix(), path.read_bytes())


def s3_store(moto: MotoServer, bucket: str) -> Any:
    """An ObjectStore on a bucket of a moto server."""
    from driftloop.adapters.store import ObjectStore
    from driftloop.config.settings import Settings

    settings = Settings(
        store_url=f"s3://{bucket}/driftloop",
        s3={"endpoint_url": moto.endpoint, "access_key_id": "testing",
            "secret_access_key": "testing"},
    )  # fmt: skip
    return ObjectStore.from_settings(settings)


def s3_store_env(
    base: TrainedState, moto: MotoServer, bucket: str, root: Path, **server: Any
) -> dict[str, str]:
    """A server environment whose store is a moto bucket (datasets copied in).

    The registry stays the base's SQLite database and its model artifacts stay on local
    disk, so the model loads once at start-up and the bucket holds only data and logs.
    """
    moto.make_bucket(bucket)
    copy_datasets(base, s3_store(moto, bucket))
    env = serve_env(base, **{**QUIET_SERVER, **server})
    env.update(
        moto.env(bucket),
        DRIFTLOOP_STATE_DIR=str(root / "state"),
        DRIFTLOOP_MLFLOW_TRACKING_URI=base.tracking_uri,
    )
    return env


def metric(text: str, name: str) -> float:
    """One unlabelled sample of a Prometheus text exposition (0 when absent)."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


class Traffic:
    """Background clients sending /predict and small /predict/batch requests in a loop.

    Keeps the request id of every row that got a 200 and counts every other outcome
    (status codes, or the exception name when no answer came).
    """

    def __init__(self, base_url: str, records: list[dict[str, Any]], clients: int = 2,
                 batch: int = 5) -> None:  # fmt: skip
        self.base_url = base_url
        self.records = records
        self.clients = clients
        self.batch = batch
        self.ok_ids: list[str] = []
        self.failures: Counter[str] = Counter()
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, offset: int) -> None:
        import httpx

        i = offset
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            while not self._stop.is_set():
                i += 1
                single = i % 4 != 0
                try:
                    if single:
                        r = client.post("/predict", json=self.records[i % len(self.records)])
                    else:
                        start = i % (len(self.records) - self.batch)
                        body = {"records": self.records[start : start + self.batch]}
                        r = client.post("/predict/batch", json=body)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures[type(exc).__name__] += 1
                    continue
                with self._lock:
                    self.answered += 1
                    if r.status_code != 200:
                        self.failures[str(r.status_code)] += 1
                    elif single:
                        self.ok_ids.append(r.json()["request_id"])
                    else:
                        self.ok_ids += [p["request_id"] for p in r.json()["predictions"]]

    def start(self) -> Traffic:
        for n in range(self.clients):
            t = threading.Thread(target=self._run, args=(n * 1000,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def rows(self) -> int:
        with self._lock:
            return len(self.ok_ids)
