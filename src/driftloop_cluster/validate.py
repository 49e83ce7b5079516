"""Validate rendered objects offline: core kinds with kubernetes-validate, Argo kinds with the
Argo JSON schemas made strict.

The Argo schemas (copied into ``deploy/schemas/``) never set ``additionalProperties: false``,
so a misspelt field would pass. ``load_strict_definitions`` sets it on every object
definition that lists ``properties``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path("deploy/schemas")
WORKFLOWS_SCHEMA = "argo-workflows-v4.1.2.schema.json"
EVENTS_SCHEMA = "argo-events-v1.9.11.schema.json"
JETSTREAM_VERSIONS = "argo-events-v1.9.11.jetstream-versions.json"
"""The JetStream versions the pinned Argo Events controller accepts (its controller config)."""
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.30", "1.37")
"""Kubernetes versions every core object must be valid for (oldest supported, newest)."""

ARGO_KINDS: dict[str, tuple[str, str]] = {
    "Workflow": (WORKFLOWS_SCHEMA, "io.argoproj.workflow.v1alpha1.Workflow"),
    "WorkflowTemplate": (WORKFLOWS_SCHEMA, "io.argoproj.workflow.v1alpha1.WorkflowTemplate"),
    "ClusterWorkflowTemplate": (
        WORKFLOWS_SCHEMA,
        "io.argoproj.workflow.v1alpha1.ClusterWorkflowTemplate",
    ),
    "CronWorkflow": (WORKFLOWS_SCHEMA, "io.argoproj.workflow.v1alpha1.CronWorkflow"),
    "EventBus": (EVENTS_SCHEMA, "io.argoproj.events.v1alpha1.EventBus"),
    "EventSource": (EVENTS_SCHEMA, "io.argoproj.events.v1alpha1.EventSource"),
    "Sensor": (EVENTS_SCHEMA, "io.argoproj.events.v1alpha1.Sensor"),
}
"""Argo kinds (apiVersion argoproj.io/v1alpha1) and the schema definition of each."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one object."""

    obj: str
    """kind/namespace/name of the object."""
    message: str
    """What is wrong, with the field path."""

    def __str__(self) -> str:
        return f"{self.obj}: {self.message}"


def describe(obj: Mapping[str, Any]) -> str:
    """kind/namespace/name of an object, for messages."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or "?"
    return f"{obj.get('kind', '?')}/{meta.get('namespace', '-')}/{name}"


def is_argo(obj: Mapping[str, Any]) -> bool:
    """True for an object of an Argo Workflows or Argo Events kind."""
    return str(obj.get("apiVersion", "")).startswith("argoproj.io/")


def make_strict(definitions: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``definitions`` map where every object definition that lists
    ``properties`` and says nothing about other properties forbids them."""
    strict = copy.deepcopy(dict(definitions))
    for definition in strict.values():
        if isinstance(definition, dict) and "properties" in definition:
            definition.setdefault("additionalProperties", False)
    return strict


@cache
def load_strict_definitions(schema_dir: Path, filename: str) -> dict[str, Any]:
    """The strict ``definitions`` of one Argo schema file."""
    raw = json.loads((schema_dir / filename).read_text())
    return make_strict(raw["definitions"])


@cache
def _argo_validator(schema_dir: Path, kind: str) -> Any:
    import jsonschema

    filename, definition = ARGO_KINDS[kind]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/definitions/{definition}",
        "definitions": load_strict_definitions(schema_dir, filename),
    }
    return jsonschema.Draft202012Validator(schema)


def _path(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(root)"


def validate_argo(obj: Mapping[str, Any], schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Problems of one Argo object against its strict schema (empty list: valid)."""
    kind = str(obj.get("kind"))
    if kind not in ARGO_KINDS:
        return [Problem(describe(obj), f"no schema for Argo kind {kind!r}")]
    validator = _argo_validator(schema_dir.resolve(), kind)
    errors = sorted(validator.iter_errors(dict(obj)), key=lambda e: list(e.absolute_path))
    problems = [Problem(describe(obj), f"{_path(e)}: {e.message}") for e in errors]
    for embedded in embedded_workflows(obj):
        problems.extend(validate_argo(embedded, schema_dir))
    return problems


def embedded_workflows(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Workflows a Sensor submits (its trigger's inline resource), to validate them too."""
    if obj.get("kind") != "Sensor":
        return
    for trigger in (obj.get("spec") or {}).get("triggers") or []:
        source = ((trigger.get("template") or {}).get("argoWorkflow") or {}).get("source") or {}
        resource = source.get("resource")
        if isinstance(resource, dict):
            yield resource


def validate_core(
    obj: Mapping[str, Any], versions: tuple[str, ...] = KUBERNETES_VERSIONS
) -> list[Problem]:
    """Problems of one core Kubernetes object, strict, for each Kubernetes version."""
    import kubernetes_validate

    problems: list[Problem] = []
    for version in versions:
        try:
            kubernetes_validate.validate(dict(obj), version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path) or "(root)"
            problems.append(Problem(describe(obj), f"[k8s {version}] {path}: {err.message}"))
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                Problem(describe(obj), f"[k8s {version}] no schema for {obj.get('apiVersion')}")
            )
    return problems


@cache
def accepted_jetstream_versions(schema_dir: Path = SCHEMA_DIR) -> tuple[str, ...]:
    """JetStream versions the Argo Events controller accepts for an EventBus."""
    data = json.loads((schema_dir / JETSTREAM_VERSIONS).read_text())
    return tuple(data["versions"])


def validate_eventbus(obj: Mapping[str, Any], schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """An EventBus's JetStream version is one the controller accepts."""
    jetstream = (obj.get("spec") or {}).get("jetstream")
    if obj.get("kind") != "EventBus" or jetstream is None:
        return []
    accepted = accepted_jetstream_versions(schema_dir)
    version = str(jetstream.get("version", ""))
    if version in accepted:
        return []
    return [
        Problem(
            describe(obj),
            f"spec.jetstream.version {version!r} is not accepted by the Argo Events "
            f"controller (one of: {', '.join(accepted)})",
        )
    ]


def validate_objects(objects: list[dict[str, Any]], schema_dir: Path = SCHEMA_DIR) -> list[Problem]:
    """Validate every object, each with the schema that fits its kind."""
    problems: list[Problem] = []
    for obj in objects:
        if is_argo(obj):
            problems.extend(validate_argo(obj, schema_dir))
            problems.extend(validate_eventbus(obj, schema_dir))
        else:
            problems.extend(validate_core(obj))
    return problems
