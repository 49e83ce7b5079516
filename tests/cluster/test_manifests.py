"""The rendered overlays: valid, complete, wired together, and free of secrets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from driftloop_cluster import check
from driftloop_cluster.render import render_overlay
from driftloop_cluster.validate import validate_objects

from .conftest import DEPLOY, ROOT, SCHEMAS, find

NAMESPACES = {"minio", "mlflow", "mlserver", "fastapi", "argo", "argo-events"}


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


@pytest.mark.e2e  # validates every object of every overlay against its schema: ~15 s
def test_every_overlay_renders_and_is_valid(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert {"dev", "gitops"} <= set(rendered)
    for name, objects in rendered.items():
        problems = validate_objects(objects, SCHEMAS)
        assert problems == [], f"{name}:\n" + "\n".join(map(str, problems))


def test_images_are_pinned_and_references_resolve(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    by_path = {DEPLOY / "overlays" / n: objs for n, objs in rendered.items()}
    pinned = check.check_images_pinned(by_path)
    assert pinned.ok, pinned.details
    for overlay, objects in by_path.items():
        result = check.check_references(overlay, objects)
        assert result.ok, result.details


def test_a_missing_secret_key_is_reported(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = [
        o for o in rendered["dev"] if o["kind"] != "Secret" or o["metadata"]["name"] != "postgres"
    ]
    result = check.check_references(DEPLOY / "overlays" / "dev", objects)
    assert not result.ok
    assert any("Secret mlflow/postgres" in d for d in result.details)


def test_namespaces(rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = {o["metadata"]["name"] for o in rendered["dev"] if o["kind"] == "Namespace"}
    assert names == NAMESPACES


def test_minio_and_its_buckets(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["dev"]
    for kind in ("Deployment", "PersistentVolumeClaim", "Service", "Ingress"):
        find(objs, kind, "minio" if kind != "PersistentVolumeClaim" else "minio-data", "minio")
    job = find(objs, "Job", "minio-buckets", "minio")
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "mb --ignore-existing store/driftloop" in script
    assert "mb --ignore-existing store/mlflow" in script


def test_mlflow_server_on_postgres_with_artifacts_in_minio(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objs = rendered["dev"]
    find(objs, "StatefulSet", "postgres", "mlflow")
    container = find(objs, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"][
        "containers"
    ][0]
    command = container["command"]
    assert command[:2] == ["mlflow", "server"]
    assert command[command.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2://")
    assert command[command.index("--artifacts-destination") + 1].startswith("s3://")
    env = _env(container)
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"
    assert env["MLFLOW_DISABLE_TELEMETRY"]["value"] == "true"
    assert "valueFrom" in env["AWS_SECRET_ACCESS_KEY"]


def test_api_deployment(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["gitops"]
    deployment = find(objs, "Deployment", "driftloop-api", "fastapi")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["command"][:2] == ["driftloop", "serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert {"requests", "limits"} <= set(container["resources"])
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    service = find(objs, "Service", "driftloop-api", "fastapi")
    assert service["spec"]["ports"][0]["port"] == 8000
    hpa = find(objs, "HorizontalPodAutoscaler", "driftloop-api", "fastapi")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "driftloop-api"
    pdb = find(objs, "PodDisruptionBudget", "driftloop-api", "fastapi")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    env = _env(container)
    assert env["DRIFTLOOP_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "driftloop-admin"
    config = find(objs, "ConfigMap", "driftloop-config", "fastapi")["data"]
    assert config["DRIFTLOOP_ENV"] == "production"
    assert config["DRIFTLOOP_STORE_URL"] == "s3://driftloop"
    assert config["DRIFTLOOP_WEBHOOK__URL"].endswith(":12000/drift-detected")


def test_services_select_their_pods(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["dev"]
    workloads = [o for o in objs if o["kind"] in ("Deployment", "StatefulSet")]
    for service in (o for o in objs if o["kind"] == "Service"):
        ns = service["metadata"]["namespace"]
        selector = service["spec"]["selector"].items()
        assert any(
            w["metadata"]["namespace"] == ns
            and selector <= w["spec"]["template"]["metadata"]["labels"].items()
            for w in workloads
        ), f"Service {ns}/{service['metadata']['name']} selects no pods"


def test_training_job_and_drift_cronjob(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["dev"]
    pod = find(objs, "Job", "driftloop-train", "argo")["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][:2] == ["driftloop", "prepare"]
    assert pod["containers"][0]["command"][:2] == ["driftloop", "train"]
    cron = find(objs, "CronJob", "driftloop-detect", "argo")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    container = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["driftloop", "detect", "--emit"]
    assert "DRIFTLOOP_WEBHOOK__SECRET" in _env(container)


def test_mlserver(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered["dev"]
    deployment = find(objs, "Deployment", "mlserver", "mlserver")
    find(objs, "Service", "mlserver", "mlserver")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert any((v.get("configMap") or {}).get("name") == "mlserver-models" for v in volumes)


def test_network_policies_close_every_app_namespace(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    policies = [o for o in rendered["dev"] if o["kind"] == "NetworkPolicy"]
    denied = {p["metadata"]["namespace"] for p in policies if p["spec"]["podSelector"] == {}}
    assert denied == {"minio", "mlflow", "mlserver", "fastapi"}
    webhook = next(p for p in policies if p["metadata"]["namespace"] == "argo-events")
    assert webhook["spec"]["ingress"][0]["ports"] == [{"port": 12000}]


def test_sensor_may_create_workflows_and_nothing_else(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objs = rendered["dev"]
    find(objs, "ServiceAccount", "drift-sensor", "argo-events")
    role = find(objs, "Role", "drift-sensor-submit", "argo")
    verbs = {r: set(rule["verbs"]) for rule in role["rules"] for r in rule["resources"]}
    assert "create" in verbs["workflows"]
    assert verbs["workflowtemplates"] == {"get", "list", "watch"}
    binding = find(objs, "RoleBinding", "drift-sensor-submit", "argo")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "drift-sensor", "namespace": "argo-events"}
    ]
    sensor = find(objs, "Sensor", "drift-retrain", "argo-events")
    assert sensor["spec"]["template"]["serviceAccountName"] == "drift-sensor"
    executor = find(objs, "Role", "driftloop-workflow-executor", "argo")
    assert executor["rules"] == [
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtaskresults"],
            "verbs": ["create", "patch"],
        }
    ]


def test_webhook_needs_a_token_and_the_sensor_a_signature(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objs = rendered["dev"]
    source = find(objs, "EventSource", "drift-webhook", "argo-events")
    hook = source["spec"]["webhook"]["drift-detected"]
    assert (hook["port"], hook["endpoint"], hook["method"]) == ("12000", "/drift-detected", "POST")
    assert hook["authSecret"] == {"name": "drift-webhook", "key": "TOKEN"}
    find(objs, "EventBus", "default", "argo-events")
    sensor = find(objs, "Sensor", "drift-retrain", "argo-events")
    filters = sensor["spec"]["dependencies"][0]["filters"]["data"]
    signature = next(f for f in filters if f["path"].startswith("header.X-Driftloop-Signature"))
    assert signature["value"] == ["^sha256=[0-9a-f]{64}$"]
    trigger = sensor["spec"]["triggers"][0]
    assert trigger["rateLimit"] == {"unit": "Minute", "requestsPerUnit": 1}


def test_sensor_maps_event_fields_onto_template_parameters(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objs = rendered["dev"]
    sensor = find(objs, "Sensor", "drift-retrain", "argo-events")
    template = find(objs, "WorkflowTemplate", "drift-retrain-template", "argo")
    known = {p["name"] for p in template["spec"]["arguments"]["parameters"]}
    trigger = sensor["spec"]["triggers"][0]["template"]["argoWorkflow"]
    workflow = trigger["source"]["resource"]
    assert workflow["spec"]["workflowTemplateRef"]["name"] == "drift-retrain-template"
    assert workflow["metadata"]["namespace"] == template["metadata"]["namespace"]
    arguments = workflow["spec"]["arguments"]["parameters"]
    mapped = {}
    for parameter in trigger["parameters"]:
        prefix, index, field = parameter["dest"].rsplit(".", 2)
        assert (prefix, field) == ("spec.arguments.parameters", "value")
        mapped[arguments[int(index)]["name"]] = parameter["src"]["dataKey"]
    assert set(mapped) <= known
    assert mapped == {
        "event-id": "body.event_id",
        "drift-score": "body.drift_score",
        "reference-data-path": "body.reference_data_path",
        "current-data-path": "body.current_data_path",
        "force-retrain": "body.force_retrain",
        "event": "body",
        "signature": "header.X-Driftloop-Signature.0",
    }


def test_secrets_come_only_from_generators_or_the_cluster() -> None:
    base = render_overlay(DEPLOY / "base", DEPLOY)
    assert [o for o in base if o["kind"] == "Secret"] == []
    gitops_kustomization = yaml.safe_load(
        (DEPLOY / "overlays/gitops/kustomization.yaml").read_text()
    )
    assert "secretGenerator" not in gitops_kustomization
    dev = yaml.safe_load((DEPLOY / "overlays/dev/kustomization.yaml").read_text())
    for generator in dev["secretGenerator"]:
        for env_file in generator["envs"]:
            assert (DEPLOY / "overlays/dev" / f"{env_file}.example").exists(), env_file


def test_real_env_files_are_git_ignored() -> None:
    gitignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "*.env" in gitignore or any(
        line.startswith("deploy/") and ".env" in line for line in gitignore
    )


def test_argocd_application_points_at_an_overlay(rendered: dict[str, list[dict[str, Any]]]) -> None:
    by_path = {DEPLOY / "overlays" / n: objs for n, objs in rendered.items()}
    result = check.check_argocd_application(by_path, DEPLOY / "argocd" / "application.yaml")
    assert result.ok, result.details
    broken = {DEPLOY / "overlays" / "dev": rendered["dev"]}
    assert not check.check_argocd_application(broken, DEPLOY / "argocd" / "application.yaml").ok


def test_driftloop_pods_in_argo_take_no_inbound_traffic(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objs = rendered["dev"]
    policy = find(objs, "NetworkPolicy", "driftloop-no-ingress", "argo")
    selector = policy["spec"]["podSelector"]["matchLabels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in policy["spec"]
    template = find(objs, "WorkflowTemplate", "drift-retrain-template", "argo")
    assert selector <= template["spec"]["podMetadata"]["labels"].items()
    job = find(objs, "Job", "driftloop-train", "argo")["spec"]["template"]
    crons = [o["spec"]["jobTemplate"]["spec"]["template"] for o in objs if o["kind"] == "CronJob"]
    assert len(crons) == 2  # detect, compact
    for pod in (job, *crons):
        assert selector <= pod["metadata"]["labels"].items()


def test_workflow_pods_may_reach_what_the_reload_step_calls(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The reload step calls the API and MLServer through their Services: every overlay's
    NetworkPolicies admit both flows (and still drop one that is not designed)."""
    from driftloop_cluster.sim.netpol import Endpoint, check_flow

    for overlay, objs in rendered.items():
        template = find(objs, "WorkflowTemplate", "drift-retrain-template", "argo")
        step = Endpoint("argo", template["spec"]["podMetadata"]["labels"])
        mlserver = Endpoint("mlserver", {"app.kubernetes.io/name": "mlserver"})
        api = Endpoint("fastapi", {"app.kubernetes.io/name": "driftloop-api"})
        postgres = Endpoint("mlflow", {"app.kubernetes.io/name": "postgres"})
        assert check_flow(objs, step, mlserver, 8080, {"http"}).admitted, overlay
        assert check_flow(objs, step, api, 8000, {"http"}).admitted, overlay
        assert not check_flow(objs, step, postgres, 5432, {"postgres"}).admitted, overlay
