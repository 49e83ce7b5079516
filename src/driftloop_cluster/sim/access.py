"""The scenario's view of the miniature cluster (:class:`scenario.Cluster` on SimCluster)."""

from __future__ import annotations

from collections.abc import Mapping

from driftloop_cluster import argo_events
from driftloop_cluster.sim.cluster import SimCluster
from driftloop_cluster.sim.scenario import InferenceLogView, WorkflowView
from driftloop_cluster.sim.store_view import inference_log_view, open_store


class SimAccess:
    """API replicas and MLServer by their own loopback ports; the webhook through the
    EventSource's Service as a client outside the cluster sees it."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim
        api = sim.workload("fastapi/driftloop-api")
        self.api_urls = [sim.url(p, api.containers[0].ports["http"]) for p in sim.pods_of(api.key)]
        mlserver = sim.workload("mlserver/mlserver")
        self.mlserver_url = sim.url(
            sim.pods_of(mlserver.key)[0], mlserver.containers[0].ports["http"]
        )
        assert sim.webhook is not None
        hook = sim.webhook.spec
        self.webhook_url = f"http://127.0.0.1:{sim.webhook.port}{hook.endpoint}"
        self.admin_token = sim.secret("fastapi", "driftloop-admin", "ADMIN_TOKEN")
        name, key = hook.auth_secret or ("drift-webhook", "TOKEN")
        self.webhook_token = sim.secret("argo-events", name, key)
        self.webhook_secret = sim.secret("fastapi", "drift-webhook", "HMAC_SECRET")

    def run_cronjob(self, name: str = "driftloop-detect") -> tuple[int, str]:
        return self.sim.run_cronjob(f"argo/{name}")

    def inference_log(self) -> InferenceLogView:
        return inference_log_view(open_store(self.sim.store_settings()))

    def workflows(self) -> list[WorkflowView]:
        assert self.sim.controller is not None
        return [
            WorkflowView(r.name, r.phase, r.parameters, {s.name: s.exit_code for s in r.steps})
            for r in self.sim.controller.runs
        ]

    def wait_workflows_idle(self, timeout_s: float) -> bool:
        assert self.sim.controller is not None
        return self.sim.controller.wait_idle(timeout_s)

    def submit_workflow(self, parameters: Mapping[str, str]) -> None:
        assert self.sim.controller is not None
        sensor = next(o for o in self.sim.objects if o["kind"] == "Sensor")
        self.sim.controller.submit(argo_events.sensor_trigger(sensor), dict(parameters))

    def set_down(self, service: str, down: bool) -> None:
        self.sim.router.set_down(service, down)

    def captured_event(self) -> tuple[dict[str, str], bytes] | None:
        assert self.sim.webhook is not None
        return self.sim.webhook.first_submitted
