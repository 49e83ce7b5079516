"""The object store as the scenario reads it from outside the workloads: the inference log's
segment keys and its row count, through driftloop's own store adapter."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from driftloop.adapters.production_data import INFERENCE_PREFIX, read_inference_log
from driftloop.adapters.store import ObjectStore
from driftloop.config.settings import S3Settings, Settings
from driftloop_cluster.sim.scenario import InferenceLogView


def open_store(settings: Mapping[str, str]) -> ObjectStore:
    """The store at ``url`` (``endpoint``, ``key``, ``secret``: its S3 endpoint and
    credentials), as a workload with those settings opens it."""
    s3 = S3Settings(endpoint_url=settings["endpoint"], access_key_id=SecretStr(settings["key"]),
                    secret_access_key=SecretStr(settings["secret"]))  # fmt: skip
    return ObjectStore.from_settings(Settings(store_url=settings["url"], s3=s3))


def inference_log_view(store: ObjectStore) -> InferenceLogView:
    """The inference log's segment keys (sorted) and how many rows they hold."""
    keys = tuple(k for k in store.list(INFERENCE_PREFIX) if k.endswith(".parquet"))
    return InferenceLogView(keys, len(read_inference_log(store)))
