"""The model registry and loading, on top of the runs: versions, aliases, tags, and
loading a version only when its files match the sha256 recorded at registration."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftloop.adapters.tracking.model_files import (
    ARTIFACT_SHA_TAG,
    hash_tree,
    write_registered_meta,
)
from driftloop.adapters.tracking.outage import raise_if_outage
from driftloop.adapters.tracking.runs import RunLog
from driftloop.config.errors import DriftloopError, NotFoundError


class ModelLoadError(DriftloopError):
    """A registered model could not be loaded (missing, tampered or broken artifacts)."""


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


class Tracker(RunLog):
    """Tracking and registry for one registered model, configured from settings."""

    # -- registry --------------------------------------------------------------------------
    def _raise_outage(self, exc: BaseException) -> None:
        raise_if_outage(exc, self.settings.tracking_uri)

    def register(self, model_uri: str, run_id: str, tags: dict[str, str]) -> ModelVersionInfo:
        """Register a logged model as a new version, with the sha256 of its files as a tag."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException as exc:
            self._raise_outage(exc)
            self.client.create_registered_model(self.model_name)
        model_id = (
            model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        )
        source = model_uri
        if model_id is not None and not self._remote:
            # A local registry resolves a models:/m-<id> source through MLflow's process-wide
            # tracking URI; the logged model's own location needs no lookup. (A tracking
            # server resolves it itself, and accepts it only with that logged model's id.)
            source = self.client.get_logged_model(model_id).artifact_location
        mv = self.client.create_model_version(
            self.model_name, source=source, run_id=run_id, tags=tags, model_id=model_id
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
        """A version's files in ``dst``, as ``download_artifacts("models:/<name>/<version>")``
        lays them out (with its ``registered_model_meta`` file, which the recorded sha256
        covers), without the process-wide registry URI that call resolves ``models:/`` with."""
        from mlflow.artifacts import download_artifacts

        uri = self.settings.tracking_uri
        source = self.client.get_model_version_download_uri(self.model_name, version)
        path = Path(download_artifacts(
            artifact_uri=source, dst_path=str(dst), tracking_uri=uri, registry_uri=uri
        ))  # fmt: skip
        if (path / "MLmodel").is_file():
            write_registered_meta(path, self.model_name, version)
        return path

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
                import mlflow.sklearn

                return mlflow.sklearn.load_model(str(local))
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
