"""MLflow behind one module: experiments, runs, the model registry, aliases and loading.

Models are logged with skops and an explicit list of trusted types (PITFALLS: the default
skops format refuses a ColumnTransformer otherwise) and explicit pip requirements (log_model
takes ~3 s when MLflow infers them). At registration a sha256 of the model's files is
recorded as a version tag; loading verifies it, so a tampered or truncated artifact is
refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import DriftloopError, NotFoundError
from driftloop.config.settings import Settings

SKOPS_TRUSTED_TYPES = [
    "collections.OrderedDict",
    "collections.defaultdict",
    "numpy.dtype",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn.utils._bunch.Bunch",
]
ARTIFACT_SHA_TAG = "artifact_sha256"


class ModelLoadError(DriftloopError):
    """A registered model could not be loaded (missing, tampered or broken artifacts)."""


class TrackingUnavailableError(DriftloopError):
    """The MLflow tracking server did not answer (refused, timed out, retries exhausted):
    an outage to retry (exit 1), not a missing model or bad input."""


def tracking_outage(
    exc: BaseException, tracking_uri: str | None = None
) -> TrackingUnavailableError | None:
    """``exc`` as an outage naming the server (default: MLflow's current tracking URI) when
    MLflow raised it because no HTTP answer came (its REST client wraps the ``requests``
    error); None for an answer such as "not found"."""
    import mlflow
    import requests

    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, requests.exceptions.RequestException):
        return None
    uri = tracking_uri or mlflow.get_tracking_uri()
    return TrackingUnavailableError(
        f"cannot reach the MLflow tracking server at {uri} ({type(cause).__name__})"
    )


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version."""

    name: str
    version: str
    run_id: str | None
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def dataset_version(self) -> str | None:
        """The dataset version the model was trained on."""
        return self.tags.get("dataset_version")


def _requirements() -> list[str]:
    pkgs = ["mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops"]
    return [f"{p}=={md.version(p)}" for p in pkgs]


def hash_tree(root: Path) -> str:
    """sha256 over the relative paths and bytes of every file under a folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Tracker:
    """Tracking and registry for one registered model, configured from settings."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        import mlflow

        settings.export_client_env()
        if settings.tracking_uri.startswith("sqlite:///"):
            Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        self._mlflow = mlflow
        self.settings = settings
        self.store = store
        self.model_name = settings.model_name
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
        self.client = mlflow.MlflowClient(settings.tracking_uri, settings.tracking_uri)
        self._experiment_id: str | None = None

    # -- runs ------------------------------------------------------------------------------
    @property
    def experiment_id(self) -> str:
        """The experiment's id, created if needed: with a tracking server, where the server
        keeps artifacts (``mlflow-artifacts:``, so clients need only its URL); with a local
        database, in the object store."""
        if self._experiment_id is None:
            name = self.settings.experiment_name
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                self._experiment_id = self.client.create_experiment(
                    name, artifact_location=self._artifact_location()
                )
            else:
                self._experiment_id = exp.experiment_id
        return self._experiment_id

    def _artifact_location(self) -> str | None:
        if self.settings.tracking_uri.startswith(("http://", "https://")):
            return None  # the server's default root: mlflow-artifacts:/ with --serve-artifacts
        location = self.store.uri("mlflow")
        if self.store.is_local:
            Path(location.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        return location

    @contextmanager
    def run(
        self, name: str, tags: dict[str, str] | None = None, nested: bool = False
    ) -> Iterator[str]:
        """Start a run (nested under the active one when asked); yields its id."""
        with self._mlflow.start_run(
            experiment_id=self.experiment_id, run_name=name, nested=nested, tags=tags
        ) as run:
            yield run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        """Log parameters of the active run."""
        self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float], run_id: str | None = None) -> None:
        """Log metrics to the active run or to a given run."""
        clean = {k: float(v) for k, v in metrics.items() if v == v}
        if run_id is None:
            self._mlflow.log_metrics(clean)
        else:
            ts = int(time.time() * 1000)
            for k, v in clean.items():
                self.client.log_metric(run_id, k, v, timestamp=ts)

    def set_tags(self, tags: dict[str, Any], run_id: str | None = None) -> None:
        """Tag the active run or a given run."""
        for k, v in tags.items():
            if run_id is None:
                self._mlflow.set_tag(k, str(v))
            else:
                self.client.set_tag(run_id, k, str(v))

    def log_dict(self, obj: Any, path: str) -> None:
        """Log a JSON artifact on the active run."""
        self._mlflow.log_dict(obj, path)

    def load_run_dict(self, run_id: str, path: str) -> dict[str, Any] | None:
        """A JSON artifact of a run (``log_dict``), or None when the run has none there."""
        from mlflow.artifacts import load_dict
        from mlflow.exceptions import MlflowException

        try:
            data = load_dict(f"runs:/{run_id}/{path}")
        except (MlflowException, OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def log_dataset_input(self, frame: pd.DataFrame, version: str, uri: str, context: str) -> None:
        """Record a dataset version as an MLflow dataset input of the active run."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            from_pandas = self._mlflow.data.from_pandas  # type: ignore[attr-defined]
            ds = from_pandas(frame, source=uri, name=f"dataset-{version}")
            self._mlflow.log_input(ds, context=context)

    def log_pipeline(self, pipeline: Any, example: pd.DataFrame, classification: bool) -> str:
        """Log a fitted pipeline with signature and input example; returns its model URI."""
        from mlflow.models import infer_signature

        example = example.head(20)
        output = pipeline.predict_proba(example) if classification else pipeline.predict(example)
        signature = infer_signature(example, output)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            info = self._mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=signature,
                input_example=example.head(3),
                pip_requirements=_requirements(),
                serialization_format="skops",
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
                pyfunc_predict_fn="predict_proba" if classification else "predict",
            )
        return str(info.model_uri)

    # -- registry --------------------------------------------------------------------------
    def _raise_outage(self, exc: BaseException) -> None:
        """Raise the outage ``exc`` stands for; return when the server answered."""
        outage = tracking_outage(exc, self.settings.tracking_uri)
        if outage is not None:
            raise outage from exc

    def register(self, model_uri: str, run_id: str, tags: dict[str, str]) -> ModelVersionInfo:
        """Register a logged model as a new version, with the sha256 of its files as a tag."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            self._raise_outage(exc)
            self.client.create_registered_model(self.model_name)
        # A tracking server accepts a models:/m-<id> source only with that logged model's id.
        model_id = (
            model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        )
        mv = self.client.create_model_version(
            self.model_name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id
        )
        version = str(mv.version)
        with tempfile.TemporaryDirectory() as tmp:
            local = self._download(version, Path(tmp))
            self.client.set_model_version_tag(
                self.model_name, version, ARTIFACT_SHA_TAG, hash_tree(local)
            )
        return self.version_info(version)

    def version_info(self, version: str) -> ModelVersionInfo:
        """A version's run, source, tags and aliases."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(self.model_name, str(version))
        except MlflowException as exc:
            self._raise_outage(exc)
            raise NotFoundError(f"model {self.model_name} has no version {version}") from exc
        return ModelVersionInfo(
            name=self.model_name,
            version=str(mv.version),
            run_id=mv.run_id,
            source=str(mv.source or ""),
            tags=dict(mv.tags or {}),
            aliases=tuple(getattr(mv, "aliases", ()) or ()),
        )

    def alias_version(self, alias: str) -> ModelVersionInfo | None:
        """The version an alias points at, or None."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            self._raise_outage(exc)
            return None
        return self.version_info(str(mv.version))

    def set_alias(self, alias: str, version: str) -> None:
        """Point an alias at a version."""
        self.client.set_registered_model_alias(self.model_name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        """Remove an alias if it exists."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(self.model_name, alias)
        except MlflowException as exc:
            self._raise_outage(exc)

    def set_version_tags(self, version: str, tags: dict[str, Any]) -> None:
        """Tag a model version."""
        for k, v in tags.items():
            self.client.set_model_version_tag(self.model_name, str(version), k, str(v))

    def resolve(self, alias: str | None = None, version: str | None = None) -> ModelVersionInfo:
        """A version by number or alias (champion by default); NotFoundError when missing."""
        if version is not None:
            return self.version_info(str(version))
        alias = alias or "champion"
        info = self.alias_version(alias)
        if info is None:
            raise NotFoundError(
                f"model {self.model_name} has no '{alias}' alias: run `driftloop train` first"
            )
        return info

    # -- loading ---------------------------------------------------------------------------
    def _download(self, version: str, dst: Path) -> Path:
        from mlflow.artifacts import download_artifacts

        path = download_artifacts(
            artifact_uri=f"models:/{self.model_name}/{version}", dst_path=str(dst)
        )
        return Path(path)

    def load_pipeline(self, version: str) -> Any:
        """Download a version's files, verify their sha256 against the registry, load it."""
        info = self.version_info(version)
        expected = info.tags.get(ARTIFACT_SHA_TAG)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self._download(info.version, Path(tmp))
            except Exception as exc:  # MLflow raises many types for a missing artifact
                raise ModelLoadError(
                    f"could not download model {self.model_name} v{version}: {exc}"
                ) from exc
            if expected is None:
                raise ModelLoadError(
                    f"model {self.model_name} v{version} has no {ARTIFACT_SHA_TAG} tag; refusing"
                )
            actual = hash_tree(local)
            if actual != expected:
                raise ModelLoadError(
                    f"model {self.model_name} v{version} artifacts changed since registration "
                    f"(sha256 {actual[:12]} != {expected[:12]}); refusing to load"
                )
            try:
                return self._mlflow.sklearn.load_model(str(local))
            except Exception as exc:
                raise ModelLoadError(
                    f"could not load model {self.model_name} v{version}: {exc}"
                ) from exc

    def artifacts_present(self, version: str) -> bool:
        """True when a version's files can be downloaded and match their recorded hash."""
        try:
            self.load_pipeline(version)
        except ModelLoadError:
            return False
        return True
