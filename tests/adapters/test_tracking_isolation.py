"""A Tracker keeps to its own registry: it neither sets nor reads MLflow's process-wide
tracking and registry URIs, so two trackers in one process see only their own runs,
logged models and versions; and it records runs as ``mlflow.start_run`` did (the parent and
candidate tree, statuses, dataset inputs, the logged model under its run)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking import Tracker
from driftloop.config.settings import Settings

MODEL = "driftloop-model"


def frame(flip: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Two features and a label that follows ``a`` (or its opposite)."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    y = ((x["a"] > 0) != flip).astype(int)
    return x, y


def pipeline(x: pd.DataFrame, y: pd.Series) -> Pipeline:
    scale = ColumnTransformer([("num", StandardScaler(), ["a", "b"])])
    return Pipeline([("preprocess", scale), ("model", LogisticRegression())]).fit(x, y)


def tracker_at(root: Path, blank: Path) -> Tracker:
    """A tracker on its own SQLite registry in ``root``, a copy of an empty one."""
    root.mkdir(parents=True)
    shutil.copy(blank, root / "mlflow.db")
    settings = Settings(state_dir=root)
    return Tracker(settings, ObjectStore.from_settings(settings))


def train_and_register(tracker: Tracker, flip: bool, tag: str) -> str:
    """A parent run with one candidate child that logs a pipeline; registered, as champion."""
    x, y = frame(flip)
    with tracker.run(f"train-{tag}", tags={"owner": tag}):
        tracker.log_params({"owner": tag})
        with tracker.run(f"cand-{tag}", nested=True) as child:
            tracker.log_metrics({"valid_roc_auc": 0.9})
            tracker.log_dataset_input(x, tag, "file:///nowhere", "training")
            uri = tracker.log_pipeline(pipeline(x, y), x, classification=True)
    version = tracker.register(uri, child, tags={"owner": tag}).version
    tracker.set_alias("champion", version)
    return version


@pytest.fixture(scope="module")
def blank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow database, created once: each copy saves its seconds of migrations."""
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("blank") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}", f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, blank: Path) -> Tracker:
    """One tracker for the tests that look at single runs."""
    return tracker_at(tmp_path_factory.mktemp("shared") / "state", blank)


@pytest.fixture
def decoy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MLflow's process-wide URIs (variables and globals) point at a third database: a
    tracker that read them would create it. Restored after the test."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    db = tmp_path / "decoy" / "mlflow.db"
    uri = f"sqlite:///{db}"
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return db


def test_a_tracker_leaves_mlflow_globals_and_the_environment_as_they_were(
    tmp_path: Path, blank: Path, decoy: Path
) -> None:
    import mlflow

    (tmp_path / "a").mkdir()
    shutil.copy(blank, tmp_path / "a" / "mlflow.db")
    settings = Settings(state_dir=tmp_path / "a")
    with mock.patch.dict(os.environ):
        settings.export_client_env()  # the S3 and telemetry variables, as entrypoints do
        env, uris = dict(os.environ), (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
        tracker = Tracker(settings, ObjectStore.from_settings(settings))
        version = train_and_register(tracker, flip=False, tag="a")
        x, y = frame()
        loaded = tracker.load_pipeline(version)
        assert (loaded.predict(x) == y).mean() > 0.9
        assert tracker.load_run_dict(tracker.resolve().run_id or "", "missing.json") is None
        assert dict(os.environ) == env
    assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == uris
    assert mlflow.active_run() is None
    assert not decoy.exists(), "the tracker opened MLflow's process-wide tracking URI"


def test_two_trackers_in_one_process_see_only_their_own(
    tmp_path: Path, blank: Path, decoy: Path
) -> None:
    a, b = tracker_at(tmp_path / "a", blank), tracker_at(tmp_path / "b", blank)
    with a.run("outer-a"):  # a's active run is a's: b's run beside it is no child of it
        with b.run("only-b") as b_run:
            b.log_params({"where": "b"})
        a.log_params({"where": "a"})
    assert "mlflow.parentRunId" not in b.client.get_run(b_run).data.tags
    versions = {"a": train_and_register(a, flip=False, tag="a"),
                "b": train_and_register(b, flip=True, tag="b")}  # fmt: skip
    assert versions == {"a": "1", "b": "1"}  # each registry numbers its own

    x, y = frame()
    for tracker, tag, expected in ((a, "a", y), (b, "b", 1 - y)):
        client = tracker.client
        runs = client.search_runs([tracker.experiment_id])
        assert {r.info.run_name for r in runs} == (
            {"outer-a", "train-a", "cand-a"} if tag == "a" else {"only-b", "train-b", "cand-b"}
        )
        assert {r.data.params.get("where", r.data.params.get("owner")) for r in runs} - {None} == {
            tag
        }
        models = client.search_logged_models([tracker.experiment_id])
        assert len(models) == 1 and client.get_run(models[0].source_run_id).info.run_name == (
            f"cand-{tag}"
        )
        (mv,) = client.search_model_versions(f"name='{MODEL}'")
        assert mv.tags["owner"] == tag
        assert tracker.resolve().tags["owner"] == tag
        assert (tracker.load_pipeline("1").predict(x) == expected).mean() > 0.9
    assert not decoy.exists()


def test_runs_form_the_parent_and_candidate_tree_the_ui_shows(shared: Tracker) -> None:
    tracker = shared
    x, y = frame()
    with tracker.run("train-v1", tags={"role": "training"}) as parent:
        tracker.log_dataset_input(x, "v1", "file:///data", "training")
        with tracker.run("cand", tags={"candidate": "lr"}, nested=True) as child:
            tracker.log_params({"kind": "logistic", "long": "x" * 900})
            tracker.log_metrics({"valid_roc_auc": 0.91, "valid_nan": float("nan")})
            uri = tracker.log_pipeline(pipeline(x, y), x, classification=True)
            tracker.log_dict({"k": 1}, "estimator.json")
        tracker.set_tags({"best_candidate": "cand"})
    tracker.log_metrics({"test_roc_auc": 0.9}, run_id=parent)

    client = tracker.client
    top, cand = client.get_run(parent), client.get_run(child)
    assert top.info.status == cand.info.status == "FINISHED"
    assert cand.data.tags["mlflow.parentRunId"] == parent
    assert "mlflow.parentRunId" not in top.data.tags
    assert top.data.tags["mlflow.runName"] == "train-v1" and "mlflow.user" in top.data.tags
    assert top.data.tags["best_candidate"] == "cand" and top.data.tags["role"] == "training"
    assert top.data.metrics == {"test_roc_auc": 0.9}
    assert cand.data.params == {"kind": "logistic", "long": "x" * 500}
    assert cand.data.metrics == {"valid_roc_auc": 0.91}
    (ds,) = top.inputs.dataset_inputs
    assert ds.dataset.name == "dataset-v1" and ds.dataset.source_type == "local"
    assert [(t.key, t.value) for t in ds.tags] == [("mlflow.data.context", "training")]
    assert tracker.load_run_dict(child, "estimator.json") == {"k": 1}
    # the logged model is an output of its run, with the run's metrics, and READY
    model_id = uri.removeprefix("models:/")
    assert [o.model_id for o in cand.outputs.model_outputs] == [model_id]
    model = client.get_logged_model(model_id)
    assert str(model.status) == "READY" and model.source_run_id == child
    assert [(m.key, m.value) for m in model.metrics or []] == [("valid_roc_auc", 0.91)]
    assert len(client.get_metric_history(child, "valid_roc_auc")) == 1
    files = {f.path for f in client.list_logged_model_artifacts(model_id)}
    assert {"MLmodel", "model.skops", "requirements.txt", "input_example.json"} <= files


def test_a_run_whose_block_raises_ends_failed_and_logging_needs_a_run(shared: Tracker) -> None:
    tracker = shared
    with pytest.raises(ZeroDivisionError), tracker.run("broken") as run_id:
        _ = 1 / 0
    assert tracker.client.get_run(run_id).info.status == "FAILED"
    with pytest.raises(RuntimeError, match="no active run"):
        tracker.log_params({"a": 1})
    with tracker.run("outer"), pytest.raises(RuntimeError, match="nested=True"):  # noqa: SIM117
        with tracker.run("inner"):  # the error is raised on entering this one
            pass


def test_each_thread_has_its_own_active_run(shared: Tracker) -> None:
    tracker = shared
    seen: dict[str, Any] = {}

    def other() -> None:
        with tracker.run("other-thread") as run_id:  # not nested under the main thread's run
            seen["run"] = run_id

    with tracker.run("main-thread"):
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
    assert "mlflow.parentRunId" not in tracker.client.get_run(seen["run"]).data.tags
