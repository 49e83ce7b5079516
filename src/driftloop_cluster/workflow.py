"""The ``drift-retrain-template`` Argo WorkflowTemplate, written with Hera.

Every step runs a ``driftloop`` command from the driftloop image, the same commands a user
runs locally. The generated YAML is committed at ``TEMPLATE_PATH`` and a test fails when
regenerating it would change anything::

    uv run python -m driftloop_cluster.workflow           # rewrite the committed YAML
    uv run python -m driftloop_cluster.workflow --check   # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hera.workflows import (
    ConfigMapEnvFrom,
    Container,
    EmptyDirVolume,
    Env,
    Parameter,
    Resources,
    RetryStrategy,
    SecretEnv,
    Step,
    Steps,
    WorkflowTemplate,
)
from hera.workflows.models import (
    Backoff,
    Capabilities,
    ContinueOn,
    Metadata,
    Mutex,
    ObjectMeta,
    PersistentVolumeClaim,
    PersistentVolumeClaimSpec,
    PodGC,
    PodSecurityContext,
    SecurityContext,
    Synchronization,
    TTLStrategy,
    VolumeClaimGC,
    VolumeMount,
    VolumeResourceRequirements,
)

TEMPLATE_NAME = "drift-retrain-template"
NAMESPACE = "argo"
IMAGE = "driftloop:0.1.0"  # overlays rewrite name and tag (kustomize `images:`)
SERVICE_ACCOUNT = "driftloop-workflow"
MUTEX = "drift-retrain"
WORK_MOUNT = "/work"
TEMPLATE_PATH = Path("deploy/base/argo/drift-retrain-template.yaml")

PARAMETER_DEFAULTS: dict[str, str] = {
    "data-dir": "s3://driftloop",
    "model-dir": f"{WORK_MOUNT}/model",
    "reference-data-path": "",
    "current-data-path": "",
    "event-id": "",
    "drift-score": "",
    "force-retrain": "false",
    "api-url": "http://driftloop-api.fastapi.svc.cluster.local:8000",
    "mlserver-url": "http://mlserver.mlserver.svc.cluster.local:8080",
    "event": "",
    "signature": "",
}
"""Workflow parameters and their defaults ("" for the data paths means: the defaults)."""

PARAMETER_HELP: dict[str, str] = {
    "data-dir": "Object-store root URL (DRIFTLOOP_STORE_URL of every step).",
    "model-dir": "Folder on the workflow volume where retrain writes retrain-result.json.",
    "reference-data-path": "Reference data of the drift check; empty: the champion's.",
    "current-data-path": "Production data of the drift check; empty: the newest window.",
    "event-id": "Id of the drift event that started the run (lineage, single flight).",
    "drift-score": "Drift score the event reported (recorded with the run).",
    "force-retrain": "true: retrain even when the re-check finds no drift.",
    "api-url": "Base URL of the prediction API told to reload the champion.",
    "mlserver-url": "Base URL of MLServer, told to load the champion again; empty: none.",
    "event": "The event body the webhook received (the Sensor maps it); empty: submitted by hand.",
    "signature": "Its X-Driftloop-Signature header, checked by the verify step.",
}

STEP_ORDER: tuple[str, ...] = ("verify", "detect", "retrain", "evaluate", "promote", "reload")
RETRAIN_DECIDED = 3  # exit code of `driftloop detect` when it decides to retrain
EVENT_DUPLICATE = 4  # exit code of `driftloop event verify` for an id claimed before


def _p(name: str) -> str:
    return "{{workflow.parameters." + name + "}}"


def _retry(limit: int, errors_only: bool) -> RetryStrategy:
    # Exit 1 is an error worth retrying; 2 (bad input) and 3 (retrain decided) are answers.
    # Numbers as strings: the Argo schema types IntOrString as a string (the CRD takes both).
    return RetryStrategy(
        limit=str(limit),
        retry_policy="OnFailure",
        expression="asInt(lastRetry.exitCode) == 1" if errors_only else None,
        backoff=Backoff(duration="30s", factor="2", cap="5m"),
    )


def _container(
    name: str,
    args: Sequence[str],
    *,
    retry: RetryStrategy,
    memory_limit: str = "1Gi",
    admin_token: bool = False,
    webhook_secret: bool = False,
) -> Container:
    env: list[Env | SecretEnv] = [
        Env(name="DRIFTLOOP_STORE_URL", value=_p("data-dir")),
        Env(name="DRIFTLOOP_STATE_DIR", value=f"{WORK_MOUNT}/state"),
        SecretEnv(name="DRIFTLOOP_S3__ACCESS_KEY_ID", secret_name="object-store",
                  secret_key="ACCESS_KEY_ID"),
        SecretEnv(name="DRIFTLOOP_S3__SECRET_ACCESS_KEY", secret_name="object-store",
                  secret_key="SECRET_ACCESS_KEY"),
    ]  # fmt: skip
    if admin_token:
        env.append(
            SecretEnv(name="DRIFTLOOP_ADMIN_TOKEN", secret_name="driftloop-admin",
                      secret_key="ADMIN_TOKEN")
        )  # fmt: skip
    if webhook_secret:
        env.append(
            SecretEnv(name="DRIFTLOOP_WEBHOOK__SECRET", secret_name="drift-webhook",
                      secret_key="HMAC_SECRET")
        )  # fmt: skip
    return Container(
        name=name,
        image=IMAGE,
        command=["driftloop", *args],
        env=env,
        env_from=[ConfigMapEnvFrom(name="driftloop-config")],
        volume_mounts=[VolumeMount(name="work", mount_path=WORK_MOUNT)],
        volumes=[EmptyDirVolume(name="tmp", mount_path="/tmp")],
        resources=Resources(
            cpu_request="250m", memory_request="512Mi", cpu_limit="2", memory_limit=memory_limit
        ),
        security_context=SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=Capabilities(drop=["ALL"]),
        ),
        retry_strategy=retry,
    )


def build_drift_retrain_template() -> WorkflowTemplate:
    """The WorkflowTemplate: verify the event (signature, single claim of its id; a failure
    stops the run), detect, then (when retraining is decided) retrain, evaluate, promote and
    reload, one run at a time.

    Long on purpose: one Hera context that reads top to bottom like the YAML it generates
    (each step is a few declarative lines; splitting it would scatter the template)."""
    gate = f"{{{{steps.detect.exitCode}}}} == {RETRAIN_DECIDED} || {_p('force-retrain')} == true"
    model_dir = _p("model-dir")
    with WorkflowTemplate(
        name=TEMPLATE_NAME,
        namespace=NAMESPACE,
        labels={
            "app.kubernetes.io/name": "drift-retrain",
            "app.kubernetes.io/part-of": "driftloop",
        },
        entrypoint="drift-retrain",
        # Step pods carry driftloop's label: the argo namespace's NetworkPolicy selects them.
        pod_metadata=Metadata(labels={"app.kubernetes.io/part-of": "driftloop"}),
        service_account_name=SERVICE_ACCOUNT,
        arguments=[
            Parameter(name=k, value=v, description=PARAMETER_HELP[k])
            for k, v in PARAMETER_DEFAULTS.items()
        ],
        synchronization=Synchronization(mutexes=[Mutex(name=MUTEX)]),
        active_deadline_seconds=3 * 3600,
        ttl_strategy=TTLStrategy(seconds_after_completion=7 * 24 * 3600),
        pod_gc=PodGC(strategy="OnWorkflowSuccess"),
        volume_claim_gc=VolumeClaimGC(strategy="OnWorkflowCompletion"),
        security_context=PodSecurityContext(
            run_as_non_root=True, run_as_user=10001, run_as_group=10001, fs_group=10001
        ),
        # One volume per run carries retrain-result.json from step to step (pods differ).
        volume_claim_templates=[
            PersistentVolumeClaim(
                metadata=ObjectMeta(name="work"),
                spec=PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=VolumeResourceRequirements(requests={"storage": "2Gi"}),
                ),
            )
        ],
    ) as wt:
        # Argo Events checks only the bearer token; the HMAC and the id are checked here,
        # before anything else runs. Only exit 1 (store unreachable) is retried.
        verify = _container(
            "verify",
            ["event", "verify", "--event", _p("event"), "--signature", _p("signature")],
            retry=_retry(2, errors_only=True),
            webhook_secret=True,
        )
        detect = _container(
            "detect",
            [
                "detect",
                "--reference-data-path", _p("reference-data-path"),
                "--current-data-path", _p("current-data-path"),
                "--output", f"{model_dir}/drift.json",
            ],
            retry=_retry(2, errors_only=True),
        )  # fmt: skip
        retrain = _container(
            "retrain",
            [
                "retrain",
                "--data-dir", _p("data-dir"),
                "--model-dir", model_dir,
                "--reference-data-path", _p("reference-data-path"),
                "--current-data-path", _p("current-data-path"),
                "--event-id", _p("event-id"),
                "--no-promote",
            ],
            retry=_retry(2, errors_only=True),
            memory_limit="4Gi",
        )  # fmt: skip
        evaluate = _container(
            "evaluate",
            ["evaluate", "--alias", "challenger", "--output", f"{model_dir}/evaluation.json"],
            retry=_retry(2, errors_only=True),
            memory_limit="2Gi",
        )
        promote = _container(
            "promote", ["promote", "--model-dir", model_dir], retry=_retry(2, errors_only=True)
        )
        reload = _container(
            "reload",
            [
                "reload",
                "--url", _p("api-url") + "/admin/reload",
                "--mlserver-url", _p("mlserver-url"),
            ],
            retry=_retry(4, errors_only=False),
            admin_token=True,
        )  # fmt: skip
        with Steps(name="drift-retrain"):
            Step(name="verify", template=verify)
            Step(name="detect", template=detect, continue_on=ContinueOn(failed=True))
            Step(name="retrain", template=retrain, when=gate)
            Step(name="evaluate", template=evaluate, when=gate)
            Step(name="promote", template=promote, when=gate)
            Step(name="reload", template=reload, when=gate)
    return wt


def render_drift_retrain_template() -> str:
    """The WorkflowTemplate as the YAML text that is committed."""
    header = (
        "# Generated by `python -m driftloop_cluster.workflow` from\n"
        "# src/driftloop_cluster/workflow.py -- edit that file, not this one.\n"
    )
    return header + build_drift_retrain_template().to_yaml()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the committed YAML, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(prog="python -m driftloop_cluster.workflow")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--path", type=Path, default=TEMPLATE_PATH)
    args = parser.parse_args(argv)
    text = render_drift_retrain_template()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `python -m driftloop_cluster.workflow`")
            return 1
        print(f"{args.path} is up to date")
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
