"""The trained state the tests share: a state folder with a prepared telco dataset and a
registered champion, trained once with the real CLI, and the ways to copy it.

One type, ``TrainedState``, for the session's state and for every copy of it: a test that
writes into a state (servers log, checks write reports, retrains move ``champion``) works
on a copy, so the session's state stays as trained.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import write_light_spec
from .processes import run_cli

ADMIN_TOKEN = "test-admin-token-not-a-secret"
MODEL_NAME = "driftloop-model"


QUIET_SERVER = {"reload_interval_s": 0, "monitor_every_rows": 0}
"""Server settings that keep out of the way: no registry watcher, no in-server drift check."""


def auth() -> dict[str, str]:
    """The admin endpoints' Authorization header for ``TrainedState.env()``'s token."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass(frozen=True)
class TrainedState:
    """A state folder (``root/state``) with a prepared dataset and a registered champion."""

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
        """The environment that selects this state (for `driftloop` subprocesses)."""
        return {
            "DRIFTLOOP_STATE_DIR": str(self.state_dir),
            "DRIFTLOOP_SPEC": str(self.spec),
            "DRIFTLOOP_ADMIN_TOKEN": ADMIN_TOKEN,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    def settings(self, **overrides: Any) -> Any:
        from driftloop.config.settings import Settings

        return Settings(state_dir=self.state_dir, spec=self.spec, **overrides)

    def store(self) -> Any:
        from driftloop.adapters.store import ObjectStore

        return ObjectStore(self.store_url)

    def split(self, name: str) -> Any:
        """One split (train, valid, test) of the latest dataset version, as a frame."""
        from driftloop.adapters.datasets import open_dataset

        return open_dataset(self.store()).frame(name)

    def champion(self) -> str:
        """The version the registry's ``champion`` alias points at."""
        client = registry_client(self.state_dir)
        return str(client.get_model_version_by_alias(MODEL_NAME, "champion").version)

    def copy_to(self, root: Path) -> TrainedState:
        """A copy at ``root`` that owns its registry *and* its artifacts (same spec)."""
        copy_state(self.state_dir, root / "state")
        return TrainedState(root, self.spec)


def train_state(root: Path) -> TrainedState:
    """Prepare and train with the real CLI in ``root`` (light spec: two quick candidates)."""
    root.mkdir(parents=True, exist_ok=True)
    state = TrainedState(root, write_light_spec(root / "spec.yaml"))
    for cmd in (["prepare"], ["train"]):
        result = run_cli(cmd, state.env())
        assert result.returncode == 0, result.stderr
    return state


def registry_client(state_dir: Path | str) -> Any:
    """An MLflow client on a state folder's registry (both URIs given, as ``Tracker`` does:
    neither reads MLflow's process-wide URIs)."""
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


def copy_datasets(state: TrainedState, store: Any) -> None:
    """A state's dataset files into another store (local folder or bucket)."""
    root = state.state_dir / "store"
    for path in sorted((root / "datasets").rglob("*")):
        if path.is_file():
            store.write_bytes(path.relative_to(root).as_posix(), path.read_bytes())


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


def stored_model_dir(tracker: Any, version: str) -> Path:
    """A version's files where the store keeps them (not a downloaded copy): what the
    registry says to download, on a local registry a ``file://`` folder."""
    location = tracker.client.get_model_version_download_uri(tracker.model_name, version)
    assert location.startswith("file://"), location
    return Path(location.removeprefix("file://"))


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


def serve_env(state: TrainedState, **server: Any) -> dict[str, str]:
    """Environment for a server on a state, with DRIFTLOOP_SERVER__* overrides."""
    env = state.env()
    env.update({f"DRIFTLOOP_SERVER__{k.upper()}": str(v) for k, v in server.items()})
    return env


def sample_records(state: TrainedState, n: int) -> tuple[list[dict[str, Any]], Any]:
    """n test-split rows as JSON-ready records, and the frame they came from."""
    from driftloop.adapters.datasets import open_dataset

    ds = open_dataset(state.store())
    frame = ds.frame("test").head(n)
    features = [f["name"] for f in ds.schema()["features"]]
    sub = frame[features].astype(object)
    return sub.where(sub.notna(), None).to_dict("records"), frame


def s3_store_env(
    base: TrainedState, moto: Any, bucket: str, root: Path, **server: Any
) -> dict[str, str]:
    """A server environment whose store is a moto bucket (datasets copied in).

    The registry stays the base's SQLite database and its model artifacts stay on local
    disk, so the model loads once at start-up and the bucket holds only data and logs.
    """
    moto.make_bucket(bucket)
    copy_datasets(base, moto.store(bucket))
    env = serve_env(base, **{**QUIET_SERVER, **server})
    env.update(
        moto.env(bucket),
        DRIFTLOOP_STATE_DIR=str(root / "state"),
        DRIFTLOOP_MLFLOW_TRACKING_URI=base.tracking_uri,
    )
    return env


def module_server(log_name: str, **server: Any) -> Any:
    """A module-scoped ``server`` fixture: one server on the module's copy of the trained
    state with these DRIFTLOOP_SERVER__* settings, stopped gracefully (asserted) at the end."""
    import pytest

    from .processes import ServerProcess

    @pytest.fixture(scope="module", name="server")
    def fixture(module_state: TrainedState, tmp_path_factory: pytest.TempPathFactory) -> Any:
        env = serve_env(module_state, **server)
        proc = ServerProcess(env, tmp_path_factory.mktemp(log_name) / "server.log").start()
        yield proc
        assert proc.stop(), proc.log()

    return fixture
