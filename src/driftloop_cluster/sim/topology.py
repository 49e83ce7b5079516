"""The topology of a rendered overlay: workloads, their containers' resolved env, Services.

Everything here is read from the rendered objects (``render.render_overlay``), never from a
second description: the command and args of each container, its env with ``value``,
``secretKeyRef`` and ``configMapKeyRef`` (and ``envFrom``) resolved from the rendered
Secrets and ConfigMaps, ``$(VAR)`` references expanded as the kubelet expands them, the
replica count (an HPA's ``maxReplicas`` when one scales the Deployment: the most pods the
cluster may run at once), and every Service with the pods it selects. Argo Events creates
the EventSource's Service itself; it is derived from the EventSource the same way.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftloop_cluster.render import pod_specs

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class TopologyError(ValueError):
    """The rendered objects do not hold together (a missing Secret, key or Service)."""


@dataclass(frozen=True)
class ContainerSpec:
    """One container as it would start: argv and env resolved."""

    name: str
    image: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    mounts: Mapping[str, str]
    """mountPath -> volume name."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Named container ports."""


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet, Job or CronJob (or an Argo-made pod group)."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    """Pod labels (what Services and NetworkPolicies select)."""
    replicas: int
    init_containers: tuple[ContainerSpec, ...]
    containers: tuple[ContainerSpec, ...]
    service_account: str
    volumes: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Service:
    """A Service: its ports (port -> target port number) and the pods it selects."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    ports: Mapping[int, int]

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


def find(objects: Sequence[Mapping[str, Any]], kind: str, namespace: str, name: str) -> Any:
    """The object of that kind, namespace and name, or None."""
    for obj in objects:
        meta = obj.get("metadata") or {}
        if (obj.get("kind"), meta.get("namespace"), meta.get("name")) == (kind, namespace, name):
            return obj
    return None


def _data(objects: Sequence[Mapping[str, Any]], kind: str, ns: str, name: str) -> dict[str, str]:
    obj = find(objects, kind, ns, name)
    if obj is None:
        raise TopologyError(f"{kind} {ns}/{name} is referenced but not rendered")
    if kind == "Secret":
        decoded = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return {**decoded, **(obj.get("stringData") or {})}
    return dict(obj.get("data") or {})


def expand_references(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` as the kubelet does (unknown names stay as written)."""
    return _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def resolve_env(
    container: Mapping[str, Any], namespace: str, objects: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """The container's environment: ``envFrom`` first, then ``env`` in order (later wins,
    ``$(VAR)`` expanded against what came before)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in source:
                data = _data(objects, kind, namespace, source[key]["name"])
                env.update({prefix + k: v for k, v in data.items()})
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = expand_references(str(item["value"]), env)
            continue
        ref = item.get("valueFrom") or {}
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            if key in ref:
                data = _data(objects, kind, namespace, ref[key]["name"])
                if ref[key]["key"] not in data:
                    raise TopologyError(
                        f"{kind} {namespace}/{ref[key]['name']} has no key {ref[key]['key']!r}"
                        f" (env {name})"
                    )
                env[name] = data[ref[key]["key"]]
    return env


def container_spec(
    container: Mapping[str, Any], namespace: str, objects: Sequence[Mapping[str, Any]]
) -> ContainerSpec:
    """A container with its env resolved and ``$(VAR)`` expanded in command and args."""
    env = resolve_env(container, namespace, objects)
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    return ContainerSpec(
        name=str(container.get("name", "?")),
        image=str(container.get("image", "")),
        argv=tuple(expand_references(str(a), env) for a in argv),
        env=env,
        mounts={m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []},
        ports={
            p["name"]: int(p["containerPort"]) for p in container.get("ports") or [] if "name" in p
        },
    )


def _replicas(obj: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]) -> int:
    if obj["kind"] in {"Job", "CronJob"}:
        return 1
    meta = obj["metadata"]
    for hpa in objects:
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if (
            hpa.get("kind") == "HorizontalPodAutoscaler"
            and hpa["metadata"].get("namespace") == meta.get("namespace")
            and (target.get("kind"), target.get("name")) == (obj["kind"], meta["name"])
        ):
            return int(hpa["spec"]["maxReplicas"])
    return int((obj.get("spec") or {}).get("replicas", 1))


def _pod_labels(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})


def workloads(objects: Sequence[Mapping[str, Any]]) -> list[Workload]:
    """Every pod-running object, its containers resolved."""
    found: list[Workload] = []
    for obj in objects:
        for spec in pod_specs(dict(obj)):
            ns = str(obj["metadata"].get("namespace", "default"))
            found.append(
                Workload(
                    kind=str(obj["kind"]),
                    namespace=ns,
                    name=str(obj["metadata"]["name"]),
                    labels=_pod_labels(obj),
                    replicas=_replicas(obj, objects),
                    init_containers=tuple(
                        container_spec(c, ns, objects) for c in spec.get("initContainers") or []
                    ),
                    containers=tuple(container_spec(c, ns, objects) for c in spec["containers"]),
                    service_account=str(spec.get("serviceAccountName", "default")),
                    volumes=tuple(spec.get("volumes") or []),
                )
            )
    return found


def _target_port(port: Mapping[str, Any], pods: Sequence[Workload]) -> int:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for pod in pods:
        for c in pod.containers:
            if target in c.ports:
                return c.ports[target]
    raise TopologyError(f"no container port named {target!r}")


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def services(objects: Sequence[Mapping[str, Any]], pods: Sequence[Workload]) -> list[Service]:
    """Every Service, plus the one Argo Events makes for each EventSource
    (``<name>-eventsource-svc``, selecting ``eventsource-name: <name>``)."""
    found: list[Service] = []
    for obj in objects:
        ns = str(obj["metadata"].get("namespace", "default"))
        spec = obj.get("spec") or {}
        if obj.get("kind") == "Service":
            selector = dict(spec.get("selector") or {})
            selected = [p for p in pods if p.namespace == ns and _selects(selector, p.labels)]
            ports = {int(p["port"]): _target_port(p, selected) for p in spec.get("ports") or []}
            found.append(Service(ns, obj["metadata"]["name"], selector, ports))
        elif obj.get("kind") == "EventSource" and spec.get("service"):
            name = obj["metadata"]["name"]
            ports = {
                int(p["port"]): int(p.get("targetPort", p["port"]))
                for p in spec["service"]["ports"]
            }
            found.append(Service(ns, f"{name}-eventsource-svc", {"eventsource-name": name}, ports))
    return found


def selected_by(service: Service, pods: Sequence[Workload]) -> list[Workload]:
    """The workloads whose pods a Service selects."""
    return [
        p for p in pods if p.namespace == service.namespace and _selects(service.selector, p.labels)
    ]


def missing_references(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """Secrets, ConfigMaps and ServiceAccounts that pods refer to but nothing renders."""
    problems: list[str] = []
    for obj in objects:
        for spec in pod_specs(dict(obj)):
            ns = str(obj["metadata"].get("namespace", "default"))
            where = f"{obj['kind']} {ns}/{obj['metadata']['name']}"
            sa = spec.get("serviceAccountName")
            if sa and find(objects, "ServiceAccount", ns, sa) is None:
                problems.append(f"{where}: ServiceAccount {sa} not rendered")
            for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
                try:
                    resolve_env(container, ns, objects)
                except TopologyError as err:
                    problems.append(f"{where}: {err}")
            for volume in spec.get("volumes") or []:
                for kind, key, name_key in (
                    ("ConfigMap", "configMap", "name"),
                    ("Secret", "secret", "secretName"),
                ):
                    ref = volume.get(key)
                    if ref and find(objects, kind, ns, ref[name_key]) is None:
                        problems.append(f"{where}: {kind} {ref[name_key]} not rendered")
    return problems
