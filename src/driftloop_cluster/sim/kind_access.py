"""The scenario's view of a real cluster (kind), through kubectl: ``make cluster-e2e``.

``python -m driftloop_cluster.sim.kind_access`` runs the shared scenario against the current
kubectl context, after ``deploy/kind/cluster-e2e.sh`` has applied the dev overlay. API pods,
MLServer and the EventSource Service are reached through ``kubectl port-forward``; the
CronJob runs as ``kubectl create job --from=cronjob/...``; a Service is taken down by scaling
its Deployment to zero. It has not been run on this project's machines (no Docker engine).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from driftloop_cluster.sim.flows import free_port
from driftloop_cluster.sim.scenario import InferenceLogView, Scenario, WorkflowView
from driftloop_cluster.sim.store_view import inference_log_view, open_store


def kubectl(*args: str, check: bool = True, timeout: float = 900) -> str:
    """Run kubectl; its stdout."""
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _secret(namespace: str, name: str, key: str) -> str:
    raw = kubectl("-n", namespace, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}")
    return base64.b64decode(raw).decode()


class KindAccess:
    """:class:`scenario.Cluster` on the current kubectl context."""

    def __init__(self) -> None:
        self._forwards: list[subprocess.Popen[bytes]] = []
        pods = kubectl("-n", "fastapi", "get", "pods", "-l", "app.kubernetes.io/name=driftloop-api",
                       "-o", "jsonpath={.items[*].metadata.name}").split()  # fmt: skip
        self.api_urls = [self._forward("fastapi", f"pod/{p}", 8000) for p in pods]
        self.mlserver_url = self._forward("mlserver", "svc/mlserver", 8080)
        hook = self._forward("argo-events", "svc/drift-webhook-eventsource-svc", 12000)
        self.webhook_url = f"{hook}/drift-detected"
        self.admin_token = _secret("fastapi", "driftloop-admin", "ADMIN_TOKEN")
        self.webhook_token = _secret("argo-events", "drift-webhook", "TOKEN")
        self.webhook_secret = _secret("fastapi", "drift-webhook", "HMAC_SECRET")
        self._runs = 0
        self._store_url: str | None = None

    def _forward(self, namespace: str, target: str, port: int) -> str:
        local = free_port()
        proc = subprocess.Popen(
            ["kubectl", "-n", namespace, "port-forward", target, f"{local}:{port}",
             "--address", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._forwards.append(proc)
        time.sleep(2)
        return f"http://127.0.0.1:{local}"

    def run_cronjob(self, cronjob: str = "driftloop-detect") -> tuple[int, str]:
        self._runs += 1
        name = f"{cronjob.removeprefix('driftloop-')}-e2e-{self._runs}"
        kubectl("-n", "argo", "create", "job", name, f"--from=cronjob/{cronjob}")
        kubectl("-n", "argo", "wait", f"job/{name}", "--for=condition=complete",
                "--timeout=600s", check=False)  # fmt: skip
        output = kubectl("-n", "argo", "logs", f"job/{name}", check=False)
        phase = kubectl("-n", "argo", "get", "job", name, "-o",
                        "jsonpath={.status.succeeded}", check=False)  # fmt: skip
        return (0 if phase == "1" else 3), output

    def inference_log(self) -> InferenceLogView:
        config = json.loads(kubectl("-n", "argo", "get", "configmap", "driftloop-config",
                                    "-o", "jsonpath={.data}"))  # fmt: skip
        if self._store_url is None:
            self._store_url = self._forward("minio", "svc/minio", 9000)
        return inference_log_view(open_store({
            "url": config["DRIFTLOOP_STORE_URL"], "endpoint": self._store_url,
            "key": _secret("argo", "object-store", "ACCESS_KEY_ID"),
            "secret": _secret("argo", "object-store", "SECRET_ACCESS_KEY")}))  # fmt: skip

    def _workflow_objects(self) -> list[dict[str, Any]]:
        items = json.loads(kubectl("-n", "argo", "get", "workflows", "-o", "json"))["items"]
        return sorted(items, key=lambda w: w["metadata"]["creationTimestamp"])

    def workflows(self) -> list[WorkflowView]:
        views = []
        for wf in self._workflow_objects():
            nodes = (wf.get("status") or {}).get("nodes") or {}
            codes: dict[str, int | None] = {}
            for node in nodes.values():
                if node.get("type") == "Pod":
                    name = node["displayName"].split("(")[0]
                    code = (node.get("outputs") or {}).get("exitCode")
                    codes[name] = int(code) if code is not None else None
                elif node.get("type") == "Skipped":
                    codes[node["displayName"]] = None
            params = {p["name"]: str(p.get("value", ""))
                      for p in wf["spec"].get("arguments", {}).get("parameters", [])}  # fmt: skip
            views.append(WorkflowView(wf["metadata"]["name"],
                                      (wf.get("status") or {}).get("phase") or "Pending",
                                      params, codes))  # fmt: skip
        return views

    def wait_workflows_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(w.phase not in ("Pending", "Running") for w in self.workflows()):
                return True
            time.sleep(5)
        return False

    def submit_workflow(self, parameters: Mapping[str, str]) -> None:
        wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
              "metadata": {"generateName": "drift-retrain-e2e-", "namespace": "argo"},
              "spec": {"workflowTemplateRef": {"name": "drift-retrain-template"},
                       "arguments": {"parameters": [{"name": k, "value": v}
                                                    for k, v in parameters.items()]}}}  # fmt: skip
        subprocess.run(["kubectl", "create", "-f", "-"], input=json.dumps(wf), text=True,
                       check=True, capture_output=True)  # fmt: skip

    def set_down(self, service: str, down: bool) -> None:
        namespace, name = service.split("/")
        kubectl("-n", namespace, "scale", f"deployment/{name}", f"--replicas={0 if down else 1}")
        if not down:
            kubectl("-n", namespace, "rollout", "status", f"deployment/{name}", "--timeout=300s")

    def captured_event(self) -> tuple[dict[str, str], bytes] | None:
        # A replay re-sends what the first workflow received (its `event` and `signature`
        # parameters, as the Sensor mapped them).
        for wf in self.workflows():
            body, sig = wf.parameters.get("event"), wf.parameters.get("signature")
            if body and sig:
                headers = {"Content-Type": "application/json", "X-Driftloop-Signature": sig,
                           "Authorization": f"Bearer {self.webhook_token}"}  # fmt: skip
                return headers, body.encode()
        return None

    def close(self) -> None:
        for proc in self._forwards:
            proc.terminate()


def main() -> int:
    from driftloop_cluster.sim.__main__ import sample_rows

    access = KindAccess()
    try:
        scenario = Scenario(cluster=access, rows=sample_rows(Path.cwd()))
        scenario.run()
    finally:
        access.close()
    failed = [c for c in scenario.checks if not c.passed]
    print(f"{len(scenario.checks) - len(failed)} checks passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
