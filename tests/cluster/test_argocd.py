"""What Argo CD syncs (deploy/overlays/gitops) keeps working after the first sync
(issue 12, defect 7)."""

from __future__ import annotations

from typing import Any

import yaml

from .conftest import DEPLOY, find


def test_jobs_are_force_replaced(rendered: dict[str, list[dict[str, Any]]]) -> None:
    jobs = [o for o in rendered["gitops"] if o["kind"] == "Job"]
    assert {j["metadata"]["name"] for j in jobs} == {"driftloop-train", "minio-buckets"}
    for job in jobs:
        options = job["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
        # Replace=true alone fails on a Job with pods (its template is immutable).
        assert set(options.split(",")) == {"Force=true", "Replace=true"}, job["metadata"]
        assert job["metadata"]["labels"]["app.kubernetes.io/name"]  # labels kept


def test_the_hpa_owns_the_api_replica_count(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["gitops"]
    hpa = find(objects, "HorizontalPodAutoscaler", "driftloop-api", "fastapi")
    target = hpa["spec"]["scaleTargetRef"]
    deployment = find(objects, target["kind"], target["name"], "fastapi")
    assert "replicas" not in deployment["spec"]  # self-heal would fight the HPA otherwise
    scaled = {
        (o["spec"]["scaleTargetRef"]["kind"], o["spec"]["scaleTargetRef"]["name"])
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    for obj in objects:
        if (obj["kind"], obj["metadata"]["name"]) in scaled:
            assert "replicas" not in obj["spec"], obj["metadata"]["name"]


def test_the_application_does_not_own_the_argo_namespaces(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    namespaces = {o["metadata"]["name"] for o in rendered["gitops"] if o["kind"] == "Namespace"}
    assert namespaces == {"minio", "mlflow", "mlserver", "fastapi"}
    # driftloop's objects in those namespaces are still synced.
    find(rendered["gitops"], "WorkflowTemplate", "drift-retrain-template", "argo")
    find(rendered["gitops"], "Sensor", "drift-retrain", "argo-events")
    # The dev overlay (kubectl apply, no Argo CD) still creates them.
    dev = {o["metadata"]["name"] for o in rendered["dev"] if o["kind"] == "Namespace"}
    assert {"argo", "argo-events"} <= dev
    app = yaml.safe_load((DEPLOY / "argocd" / "application.yaml").read_text())
    assert app["spec"]["source"]["path"] == "deploy/overlays/gitops"
