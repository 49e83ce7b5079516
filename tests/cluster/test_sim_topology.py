"""The miniature's pure parts on the rendered dev overlay: env resolution, Services,
NetworkPolicy verdicts, DNS rewriting, retry replay (no processes started)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from driftloop_cluster.local_run import retry_delay
from driftloop_cluster.sim.flows import dns_pattern
from driftloop_cluster.sim.netpol import Endpoint, check_flow
from driftloop_cluster.sim.processes import map_paths
from driftloop_cluster.sim.standins import buckets_of_script
from driftloop_cluster.sim.topology import (
    TopologyError,
    missing_references,
    resolve_env,
    services,
    workloads,
)


@pytest.fixture(scope="module")
def dev(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered["dev"]


def test_env_resolves_secret_and_configmap_refs_and_expands_vars(dev: list[dict[str, Any]]) -> None:
    mlflow = next(w for w in workloads(dev) if w.key == "mlflow/mlflow")
    container = mlflow.containers[0]
    secret = next(o for o in dev if o["kind"] == "Secret" and o["metadata"]["name"] == "postgres")
    user = base64.b64decode(secret["data"]["POSTGRES_USER"]).decode()
    uri = container.argv[container.argv.index("--backend-store-uri") + 1]
    assert f"//{user}:" in uri and "$(" not in uri
    api = next(w for w in workloads(dev) if w.key == "fastapi/driftloop-api")
    assert api.containers[0].env["DRIFTLOOP_STORE_URL"] == "s3://driftloop"  # from the ConfigMap
    assert api.replicas == 2  # the HPA's maxReplicas


def test_a_missing_secret_key_is_named(dev: list[dict[str, Any]]) -> None:
    ref = {"secretKeyRef": {"name": "postgres", "key": "NOPE"}}
    container = {"env": [{"name": "X", "valueFrom": ref}]}
    with pytest.raises(TopologyError, match="NOPE"):
        resolve_env(container, "mlflow", dev)
    assert missing_references(dev) == []


def test_eventsource_service_is_derived(dev: list[dict[str, Any]]) -> None:
    keys = {s.key: s for s in services(dev, workloads(dev))}
    hook = keys["argo-events/drift-webhook-eventsource-svc"]
    assert hook.ports == {12000: 12000}
    assert keys["fastapi/driftloop-api"].ports == {8000: 8000}  # named targetPort resolved


def test_network_policies_admit_and_drop(dev: list[dict[str, Any]]) -> None:
    api = Endpoint("fastapi", {"app.kubernetes.io/name": "driftloop-api"})
    mlflow = Endpoint("mlflow", {"app.kubernetes.io/name": "mlflow"})
    postgres = Endpoint("mlflow", {"app.kubernetes.io/name": "postgres"})
    minio = Endpoint("minio", {"app.kubernetes.io/name": "minio"})
    mlserver = Endpoint("mlserver", {"app.kubernetes.io/name": "mlserver"})
    assert check_flow(dev, api, mlflow, 5000).reason == "mlflow/mlflow-clients"
    assert check_flow(dev, mlflow, postgres, 5432).admitted
    assert not check_flow(dev, api, postgres, 5432).admitted  # only the MLflow server
    assert not check_flow(dev, mlserver, minio, 9000).admitted  # MLServer has no path to MinIO
    assert not check_flow(dev, api, mlflow, 5001).admitted  # wrong port


def test_dns_names_and_paths() -> None:
    pattern = dns_pattern("mlflow", "mlflow", 5000, same_namespace=False)
    assert pattern.sub("X", "http://mlflow.mlflow.svc.cluster.local:5000/x") == "http://X/x"
    assert pattern.sub("X", "http://mlflow.mlflow:5000") == "http://X"
    assert pattern.sub("X", "http://mlflow:5000") == "http://mlflow:5000"  # other namespace
    assert pattern.sub("X", "http://mlflow.mlflow.svc:50001") == "http://mlflow.mlflow.svc:50001"
    from pathlib import Path

    mounts = {"/mnt/models": Path("/tmp/p/models"), "/tmp": Path("/tmp/p/tmp")}
    assert map_paths("/mnt/models", mounts) == "/tmp/p/models"  # not mapped twice


def test_bucket_job_script_and_retry_strategy() -> None:
    script = "mc mb --ignore-existing store/driftloop\nmc mb --ignore-existing store/mlflow\n"
    assert buckets_of_script(script) == ["driftloop", "mlflow"]
    strategy = {"limit": "2", "expression": "asInt(lastRetry.exitCode) == 1",
                "backoff": {"duration": "30s", "factor": "2", "cap": "5m"}}  # fmt: skip
    assert [retry_delay(strategy, 1, n) for n in (1, 2, 3)] == [30.0, 60.0, None]
    assert retry_delay(strategy, 3, 1) is None  # an answer, not an error
