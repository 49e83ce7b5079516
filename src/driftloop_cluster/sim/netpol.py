"""Would the rendered NetworkPolicies let a flow through? (Kubernetes semantics.)

A flow is source pod (namespace, labels) -> destination pod (namespace, labels), port.
Ingress: if no policy of type Ingress selects the destination pod, everything is admitted;
otherwise some selecting policy must have an ingress rule whose ``from`` peers match the
source and whose ``ports`` include the port. Egress is the same on the source's side.
Namespaces carry the label ``kubernetes.io/metadata.name`` as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_ALLOW = "(no policy selects the pod)"


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow."""

    namespace: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Verdict:
    """Whether a flow passes, and the policies that decide it ('ingress; egress')."""

    admitted: bool
    ingress: str | None
    egress: str | None

    @property
    def reason(self) -> str:
        """The admitting policies, or what drops the flow."""
        ingress = self.ingress or "DROPPED by ingress policies"
        egress = self.egress or "DROPPED by egress policies"
        return ingress if egress == DEFAULT_ALLOW else f"{ingress}; egress {egress}"


def matches_selector(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Label-selector semantics: matchLabels and matchExpressions ({} selects all)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op)
        if ok is None:
            raise ValueError(f"unknown selector operator {op!r}")
        if not ok:
            return False
    return True


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(peer: Mapping[str, Any], policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return False  # the harness sees pods, not addresses
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None and other.namespace != policy_ns:
        return False  # a bare podSelector means the policy's own namespace
    if ns_sel is not None and not matches_selector(ns_sel, _namespace_labels(other.namespace)):
        return False
    return pod_sel is None or matches_selector(pod_sel, other.labels)


def _port_matches(
    rule_ports: Sequence[Mapping[str, Any]] | None, port: int, names: set[str]
) -> bool:
    if not rule_ports:
        return True
    for item in rule_ports:
        value = item.get("port")
        end = item.get("endPort")
        if value is None or str(value) in names:
            return True
        if str(value).isdigit() and (int(value) == port or (end and int(value) <= port <= end)):
            return True
    return False


def _policies(objects: Sequence[Mapping[str, Any]], direction: str, pod: Endpoint) -> list[Any]:
    return [
        o
        for o in objects
        if o.get("kind") == "NetworkPolicy"
        and o["metadata"].get("namespace") == pod.namespace
        and direction in (o["spec"].get("policyTypes") or ["Ingress"])
        and matches_selector(o["spec"].get("podSelector"), pod.labels)
    ]


def _side(
    objects: Sequence[Mapping[str, Any]],
    direction: str,
    pod: Endpoint,
    other: Endpoint,
    port: int,
    port_names: set[str],
) -> str | None:
    selecting = _policies(objects, direction, pod)
    if not selecting:
        return DEFAULT_ALLOW
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(p, pod.namespace, other) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, port_names):
                return f"{policy['metadata']['namespace']}/{policy['metadata']['name']}"
    return None


def check_flow(
    objects: Sequence[Mapping[str, Any]],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    port_names: set[str] | None = None,
) -> Verdict:
    """The verdict of the rendered policies on one flow (``port``: the pod's port)."""
    names = port_names or set()
    ingress = _side(objects, "Ingress", destination, source, port, names)
    egress = _side(objects, "Egress", source, destination, port, names)
    return Verdict(ingress is not None and egress is not None, ingress, egress)
