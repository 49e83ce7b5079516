"""The drift-retrain WorkflowTemplate: generated from Hera, committed, and shaped as designed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from driftloop_cluster import workflow
from driftloop_cluster.local_run import workflow_steps
from driftloop_cluster.validate import validate_argo

from .conftest import ROOT, SCHEMAS

COMMITTED = ROOT / workflow.TEMPLATE_PATH


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.safe_load(workflow.render_drift_retrain_template())


def test_regenerating_gives_the_committed_yaml() -> None:
    assert COMMITTED.read_text() == workflow.render_drift_retrain_template(), (
        "deploy/base/argo/drift-retrain-template.yaml is stale: "
        "run `uv run python -m driftloop_cluster.workflow`"
    )


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "template.yaml"
    stale.write_text(COMMITTED.read_text().replace("drift-retrain", "drift-retrian", 1))
    assert workflow.main(["--check", "--path", str(stale)]) == 1
    assert workflow.main(["--path", str(stale)]) == 0
    assert workflow.main(["--check", "--path", str(stale)]) == 0


def test_template_is_valid_for_the_strict_argo_schema(template: dict[str, Any]) -> None:
    assert validate_argo(template, SCHEMAS) == []


def test_parameters_from_the_issue_have_defaults(template: dict[str, Any]) -> None:
    params = {p["name"]: p["value"] for p in template["spec"]["arguments"]["parameters"]}
    for name in ("data-dir", "model-dir", "reference-data-path", "current-data-path"):
        assert name in params
    assert params["data-dir"].startswith("s3://")
    assert params["force-retrain"] == "false"


def test_steps_run_in_order_and_retrain_is_gated(template: dict[str, Any]) -> None:
    steps = workflow_steps(template)
    assert [s.name for s in steps] == list(workflow.STEP_ORDER)
    verify, detect, *rest = steps
    # The event is verified first, and a failure there stops the run.
    assert verify.when is None and not verify.continue_on_failed
    assert verify.template["container"]["command"] == [
        "driftloop", "event", "verify",
        "--event", "{{workflow.parameters.event}}",
        "--signature", "{{workflow.parameters.signature}}",
    ]  # fmt: skip
    env = {e["name"]: e for e in verify.template["container"]["env"]}
    assert env["DRIFTLOOP_WEBHOOK__SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "drift-webhook",
        "key": "HMAC_SECRET",
    }
    assert detect.when is None and detect.continue_on_failed
    for step in rest:
        assert step.when is not None and "{{steps.detect.exitCode}} == 3" in step.when
        assert "force-retrain" in step.when
        assert not step.continue_on_failed
    commands = [s.template["container"]["command"][:2] for s in steps[1:]]
    assert commands == [["driftloop", name] for name in workflow.STEP_ORDER[1:]]


def test_one_run_at_a_time_and_retries(template: dict[str, Any]) -> None:
    spec = template["spec"]
    assert spec["synchronization"] == {"mutexes": [{"name": workflow.MUTEX}]}
    for t in spec["templates"]:
        if "container" in t:
            assert int(t["retryStrategy"]["limit"]) >= 1
    by_name = {t["name"]: t for t in spec["templates"]}
    # Bad input (2) and "retrain decided" (3) are answers, not errors to retry.
    assert by_name["detect"]["retryStrategy"]["expression"] == "asInt(lastRetry.exitCode) == 1"


def test_steps_share_the_work_volume_and_read_settings_from_the_cluster(
    template: dict[str, Any],
) -> None:
    spec = template["spec"]
    assert [v["metadata"]["name"] for v in spec["volumeClaimTemplates"]] == ["work"]
    for t in spec["templates"]:
        if "container" not in t:
            continue
        c = t["container"]
        assert {"name": "work", "mountPath": workflow.WORK_MOUNT} in c["volumeMounts"]
        assert c["envFrom"] == [{"configMapRef": {"name": "driftloop-config"}}]
        env = {e["name"]: e for e in c["env"]}
        assert env["DRIFTLOOP_STORE_URL"]["value"] == "{{workflow.parameters.data-dir}}"
        assert "valueFrom" in env["DRIFTLOOP_S3__SECRET_ACCESS_KEY"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsNonRoot"] is True
