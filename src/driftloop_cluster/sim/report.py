"""The table ``make cluster-sim`` prints: workloads, flows, events, workflows, versions, checks."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from driftloop_cluster.sim.cluster import SimCluster
from driftloop_cluster.sim.scenario import Scenario


def _masked(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if len(value) >= 8:
            text = text.replace(value, "***")
    return text


def _secret_values(sim: SimCluster) -> list[str]:
    import base64

    return [
        base64.b64decode(v).decode()
        for o in sim.objects
        if o["kind"] == "Secret"
        for v in (o.get("data") or {}).values()
    ]


def print_report(sim: SimCluster, scenario: Scenario, console: Console | None = None) -> None:
    """Every table, Secret values masked."""
    console = console or Console(width=160)
    secrets = _secret_values(sim)
    workloads = Table(title="Workloads (rendered dev overlay)")
    for col in ("workload", "pods", "runs here as"):
        workloads.add_column(col)
    for row in dict((r.workload, r) for r in sim.rows).values():
        workloads.add_row(row.workload, str(row.replicas), _masked(row.runs_as, secrets)[:110])
    flows = Table(title="Observed flows and the NetworkPolicy admitting each")
    for col in ("client", "service:port", "admitted by"):
        flows.add_column(col)
    for flow, verdict in sim.verdicts():
        style = None if verdict.admitted else "bold red"
        flows.add_row(flow.client, f"{flow.service}:{flow.port}", verdict.reason, style=style)
    events = Table(title="Webhook deliveries (Argo Events stand-in)")
    for col in ("HTTP", "event id", "outcome"):
        events.add_column(col)
    for d in sim.webhook.deliveries if sim.webhook else []:
        events.add_row(str(d.status), d.event_id[:16], d.outcome)
    runs = Table(title="Workflows (drift-retrain-template)")
    for col in ("workflow", "phase", "event", "steps (exit code, attempts)"):
        runs.add_column(col)
    for run in sim.controller.runs if sim.controller else []:
        steps = " ".join(
            f"{s.name}={'skip' if s.exit_code is None else s.exit_code}"
            + (f"x{s.attempts}" if s.attempts > 1 else "")
            for s in run.steps
        )
        runs.add_row(
            run.name, run.phase, run.parameters.get("event-id", "")[:12], steps or run.error
        )
    versions = Table(title="Served before / after")
    versions.add_column("replica")
    for label in scenario.versions:
        versions.add_column(label)
    for key in scenario.versions.get("before", {}):
        versions.add_row(
            key, *(scenario.versions[label].get(key, "") for label in scenario.versions)
        )
    checks = Table(title="Checks")
    for col in ("", "check", "detail"):
        checks.add_column(col)
    for c in scenario.checks:
        checks.add_row("PASS" if c.passed else "FAIL", c.name, _masked(c.detail, secrets)[:100],
                       style=None if c.passed else "bold red")  # fmt: skip
    for table in (workloads, flows, events, runs, versions, checks):
        console.print(table)
