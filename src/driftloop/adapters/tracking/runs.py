"""Runs through an explicit ``MlflowClient``: experiment, run hierarchy, what runs log.

The active run is this object's own (a stack per thread), not MLflow's fluent one; nested
runs carry ``mlflow.parentRunId`` as ``mlflow.start_run(nested=True)`` sets it, so the
MLflow UI shows the same tree.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from driftloop.adapters.store import ObjectStore
from driftloop.adapters.tracking.model_files import save_pipeline
from driftloop.adapters.tracking.outage import raise_if_outage
from driftloop.config.settings import Settings


class RunLog:
    """Runs of one experiment through one ``MlflowClient``: the run hierarchy, what a run
    logs (parameters, metrics, tags, JSON, dataset inputs) and its logged models."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        from mlflow import MlflowClient

        settings.export_client_env()
        if settings.tracking_uri.startswith("sqlite:///"):
            Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        self.settings = settings
        self.store = store
        self.model_name = settings.model_name
        self.client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
        self._experiment_id: str | None = None
        self._runs = threading.local()  # this thread's stack of active run ids

    # -- runs ------------------------------------------------------------------------------
    @property
    def experiment_id(self) -> str:
        """The experiment's id, created if needed: with a tracking server, where the server
        keeps artifacts (``mlflow-artifacts:``, so clients need only its URL); with a local
        database, in the object store."""
        from mlflow.exceptions import MlflowException

        if self._experiment_id is None:
            name = self.settings.experiment_name
            try:
                exp = self.client.get_experiment_by_name(name)
            except MlflowException as exc:
                raise_if_outage(exc, self.settings.tracking_uri)
                raise
            if exp is None:
                self._experiment_id = self.client.create_experiment(
                    name, artifact_location=self._artifact_location()
                )
            else:
                self._experiment_id = exp.experiment_id
        return self._experiment_id

    @property
    def _remote(self) -> bool:
        return self.settings.tracking_uri.startswith(("http://", "https://"))

    def _artifact_location(self) -> str | None:
        if self._remote:
            return None  # the server's default root: mlflow-artifacts:/ with --serve-artifacts
        location = self.store.uri("mlflow")
        if self.store.is_local:
            Path(location.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        return location

    def _active_runs(self) -> list[str]:
        stack: list[str] | None = getattr(self._runs, "ids", None)
        if stack is None:
            stack = self._runs.ids = []
        return stack

    def _active(self, run_id: str | None = None) -> str:
        """``run_id``, or the innermost run this thread started with ``run``."""
        if run_id is not None:
            return run_id
        stack = self._active_runs()
        if not stack:
            raise RuntimeError("no active run: log inside `with tracker.run(...)`")
        return stack[-1]

    @contextmanager
    def run(
        self, name: str, tags: dict[str, str] | None = None, nested: bool = False
    ) -> Iterator[str]:
        """Start a run, a child of the active one (``mlflow.parentRunId``) when ``nested``;
        yields its id and ends it FINISHED, or FAILED when the block raises."""
        from mlflow.tracking.context.registry import resolve_tags
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

        stack = self._active_runs()
        if stack and not nested:
            raise RuntimeError(f"run {stack[-1]} is active: start {name!r} with nested=True")
        run_tags = {**(tags or {}), MLFLOW_RUN_NAME: name}
        if stack:
            run_tags[MLFLOW_PARENT_RUN_ID] = stack[-1]
        # resolve_tags adds what mlflow.start_run adds: user, source name and type, git commit
        run = self.client.create_run(self.experiment_id, tags=resolve_tags(run_tags), run_name=name)
        run_id = run.info.run_id
        stack.append(run_id)
        status = "FAILED"
        try:
            yield run_id
            status = "FINISHED"
        finally:
            stack.pop()
            self.client.set_terminated(run_id, status)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log parameters of the active run."""
        from mlflow.entities import Param

        batch = [Param(k, str(v)[:500]) for k, v in params.items()]
        self.client.log_batch(self._active(), params=batch)

    def log_metrics(self, metrics: dict[str, float], run_id: str | None = None) -> None:
        """Log metrics to the active run or to a given run."""
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        batch = [Metric(k, float(v), ts, 0) for k, v in metrics.items() if v == v]
        self.client.log_batch(self._active(run_id), metrics=batch)

    def set_tags(self, tags: dict[str, Any], run_id: str | None = None) -> None:
        """Tag the active run or a given run."""
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)) for k, v in tags.items()]
        self.client.log_batch(self._active(run_id), tags=batch)

    def log_dict(self, obj: Any, path: str) -> None:
        """Log a JSON artifact on the active run."""
        self.client.log_dict(self._active(), obj, path)

    def load_run_dict(self, run_id: str, path: str) -> dict[str, Any] | None:
        """A JSON artifact of a run (``log_dict``), or None when the run has none there."""
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(run_id, path, tmp)
                data = json.loads(Path(local).read_text())
            except (MlflowException, OSError, ValueError):
                return None
        return data if isinstance(data, dict) else None

    def log_dataset_input(self, frame: pd.DataFrame, version: str, uri: str, context: str) -> None:
        """Record a dataset version as an MLflow dataset input of the active run."""
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = mlflow.data.from_pandas(frame, source=uri, name=f"dataset-{version}")  # type: ignore[attr-defined]
            entity = ds._to_mlflow_entity()
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
        self.client.log_inputs(self._active(), [DatasetInput(entity, tags=tags)])

    def log_pipeline(self, pipeline: Any, example: pd.DataFrame, classification: bool) -> str:
        """Log a fitted pipeline with signature and input example as a logged model of the
        active run (what ``mlflow.sklearn.log_model`` does, through this tracker's client);
        returns its model URI, ``models:/m-<id>``."""
        from mlflow.entities import LoggedModelOutput
        from mlflow.tracking.context.registry import resolve_tags

        run_id = self._active()
        run = self.client.get_run(run_id)
        model = self.client.create_logged_model(
            self.experiment_id, name="model", source_run_id=run_id,
            params=dict(run.data.params), tags=resolve_tags(),
        )  # fmt: skip
        try:
            self.client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
            self._link_metrics(run_id, model.model_id, list(run.data.metrics))
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "model"
                save_pipeline(pipeline, example, classification, local, model, run_id)
                self.client.log_model_artifacts(model.model_id, str(local))
        except BaseException:
            self.client.finalize_logged_model(model.model_id, "FAILED")
            raise
        self.client.finalize_logged_model(model.model_id, "READY")
        return f"models:/{model.model_id}"

    def _link_metrics(self, run_id: str, model_id: str, keys: list[str]) -> None:
        """The run's step-0 metrics, logged again for the model (as ``log_model`` does), so
        the logged model shows them; same timestamps, so the run's history is unchanged."""
        from mlflow.entities import Metric

        batch = [
            Metric(m.key, m.value, m.timestamp, m.step, run_id=run_id, model_id=model_id)
            for key in keys
            for m in self.client.get_metric_history(run_id, key)
            if m.step == 0 and m.model_id is None
        ]
        if batch:
            self.client.log_batch(run_id, metrics=batch)
