"""Schema validation catches what the manifests get wrong, and passes what they get right."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from driftloop_cluster.validate import (
    accepted_jetstream_versions,
    make_strict,
    validate_argo,
    validate_core,
    validate_eventbus,
)

from .conftest import SCHEMAS, find

SHARED = Path(__file__).resolve().parents[3] / "shared" / "schemas"


def test_strict_definitions_forbid_unknown_fields_only_where_properties_are_listed() -> None:
    definitions = {
        "Obj": {"type": "object", "properties": {"a": {"type": "string"}}},
        "Map": {"type": "object", "additionalProperties": {"type": "string"}},
        "Str": {"type": "string"},
    }
    strict = make_strict(definitions)
    assert strict["Obj"]["additionalProperties"] is False
    assert strict["Map"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in strict["Str"]
    assert "additionalProperties" not in definitions["Obj"]  # the input is left alone


def test_schemas_are_the_shared_copies() -> None:
    if not SHARED.exists():
        pytest.skip("no shared/ folder beside the repository")
    for source in SHARED.glob("*"):
        assert (SCHEMAS / source.name).read_bytes() == source.read_bytes(), source.name


def test_misspelt_container_field_in_a_workflow_template_is_reported(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    template = copy.deepcopy(
        find(rendered["dev"], "WorkflowTemplate", "drift-retrain-template", "argo")
    )
    assert validate_argo(template, SCHEMAS) == []
    template["spec"]["templates"][0]["container"]["imagePullPolicyy"] = "Always"
    problems = validate_argo(template, SCHEMAS)
    assert len(problems) == 1
    assert "imagePullPolicyy" in problems[0].message


def test_misspelt_webhook_field_in_an_event_source_is_reported(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    source = copy.deepcopy(find(rendered["dev"], "EventSource", "drift-webhook", "argo-events"))
    hook = source["spec"]["webhook"]["drift-detected"]
    hook["endpiont"] = hook.pop("endpoint")
    messages = " ".join(p.message for p in validate_argo(source, SCHEMAS))
    assert "endpiont" in messages and "endpoint" in messages  # unknown one, missing one


def test_workflow_a_sensor_submits_is_validated_too(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    sensor = copy.deepcopy(find(rendered["dev"], "Sensor", "drift-retrain", "argo-events"))
    resource = sensor["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"]
    resource["spec"]["workflowTemplateReff"] = resource["spec"].pop("workflowTemplateRef")
    problems = validate_argo(sensor, SCHEMAS)
    assert any("workflowTemplateReff" in p.message for p in problems)


def test_core_objects_are_checked_strictly(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = copy.deepcopy(find(rendered["dev"], "Deployment", "driftloop-api", "fastapi"))
    assert validate_core(deployment) == []
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    problems = validate_core(deployment)
    assert problems and all("readynessProbe" in p.message for p in problems)


def test_unknown_argo_kind_is_a_problem() -> None:
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "x"}}
    assert "no schema" in validate_argo(obj, SCHEMAS)[0].message


def test_schema_readme_is_shipped() -> None:
    assert "additionalProperties" in (SCHEMAS / "README.md").read_text()
    for name in ("argo-workflows-v4.1.2.schema.json", "argo-events-v1.9.11.schema.json"):
        assert "definitions" in json.loads((SCHEMAS / name).read_text())


def test_jetstream_versions_are_the_controllers_list() -> None:
    assert accepted_jetstream_versions(SCHEMAS) == (
        "latest", "2.8.1", "2.8.1-alpine", "2.8.2", "2.8.2-alpine",
        "2.9.1", "2.9.12", "2.9.16", "2.10.29",
    )  # fmt: skip
    data = json.loads((SCHEMAS / "argo-events-v1.9.11.jetstream-versions.json").read_text())
    assert "v1.9.11" in data["source"] and "install.yaml" in data["source"]


def test_rendered_eventbus_runs_an_accepted_jetstream(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, objects in rendered.items():
        bus = find(objects, "EventBus", "default", "argo-events")
        assert validate_eventbus(bus, SCHEMAS) == [], name
        assert bus["spec"]["jetstream"]["version"] == "2.10.29"
    rejected = copy.deepcopy(bus)
    rejected["spec"]["jetstream"]["version"] = "2.10.10"
    problems = validate_eventbus(rejected, SCHEMAS)
    assert problems and "'2.10.10' is not accepted" in problems[0].message
