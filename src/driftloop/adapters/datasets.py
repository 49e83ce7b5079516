"""Dataset versions in the object store: ``datasets/<version>/…`` and the latest pointer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError

LATEST_KEY = "datasets/latest.json"


def dataset_prefix(version: str) -> str:
    """Store prefix of a dataset version."""
    return f"datasets/{version}"


@dataclass
class DatasetVersion:
    """A prepared dataset version, read lazily from the store."""

    store: ObjectStore
    version: str

    def key(self, name: str) -> str:
        """Store key of one file of this version."""
        return f"{dataset_prefix(self.version)}/{name}"

    def exists(self) -> bool:
        """A version exists once its manifest (written last) is there."""
        return self.store.exists(self.key("manifest.json"))

    def frame(self, split: str) -> pd.DataFrame:
        """One of train, valid, test, reference."""
        return self.store.read_parquet(self.key(f"{split}.parquet"))

    def schema(self) -> dict[str, Any]:
        """schema.json of this version."""
        return dict(self.store.read_json(self.key("schema.json")))

    def manifest(self) -> dict[str, Any]:
        """manifest.json of this version."""
        return dict(self.store.read_json(self.key("manifest.json")))


def latest_version(store: ObjectStore) -> str:
    """The version written by the newest prepare (or promoted retrain)."""
    if not store.exists(LATEST_KEY):
        raise NotFoundError(f"no prepared dataset in {store.url}: run `driftloop prepare` first")
    return str(store.read_json(LATEST_KEY)["version"])


def open_dataset(store: ObjectStore, version: str | None = None) -> DatasetVersion:
    """A dataset version (the latest when None); NotFoundError when it is not there."""
    ds = DatasetVersion(store, version or latest_version(store))
    if not ds.exists():
        raise NotFoundError(f"dataset version {ds.version} not found in {store.url}")
    return ds


def set_latest(store: ObjectStore, version: str) -> None:
    """Point the latest pointer at a version."""
    store.write_json(LATEST_KEY, {"version": version})


def write_dataset(
    store: ObjectStore,
    version: str,
    frames: dict[str, pd.DataFrame],
    schema: dict[str, Any],
    manifest_extra: dict[str, Any],
) -> dict[str, Any]:
    """Write the frames and schema, then the manifest last so a version is never half-visible."""
    import hashlib

    prefix = dataset_prefix(version)
    files: dict[str, Any] = {}
    for name, frame in frames.items():
        data = store.write_parquet(f"{prefix}/{name}.parquet", frame)
        files[f"{name}.parquet"] = {
            "rows": len(frame),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
    store.write_json(f"{prefix}/schema.json", schema)
    manifest = {"version": version, "files": files, **manifest_extra}
    store.write_json(f"{prefix}/manifest.json", manifest)
    return manifest


def read_frame_at(path: str, store: ObjectStore) -> pd.DataFrame:
    """Read a Parquet or CSV table given as a store key, a store URL, another URL on the
    store's backend (read through the store: its endpoint, credentials, timeouts) or a
    local path."""
    import io
    from pathlib import Path

    from driftloop.config.errors import InputError

    if path.startswith(store.url + "/"):
        data = store.read_bytes(path[len(store.url) + 1 :])
    elif "://" in path and not path.startswith("file://"):
        try:
            data = store.read_url(path)
        except NotFoundError as exc:
            raise InputError(f"data file not found: {path}") from exc
    else:
        local = Path(path.removeprefix("file://"))
        if local.is_file():
            data = local.read_bytes()
        elif store.exists(path):
            data = store.read_bytes(path)
        else:
            raise InputError(f"data file not found: {path}")
    try:
        if path.endswith(".csv"):
            return pd.read_csv(io.BytesIO(data))
        return pd.read_parquet(io.BytesIO(data))
    except (ValueError, OSError) as exc:
        kind = "CSV" if path.endswith(".csv") else "Parquet"
        raise InputError(f"could not read {path} as {kind}: {exc}") from exc
