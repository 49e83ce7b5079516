"""The Argo Events + Argo Workflows stand-in: a webhook that submits workflows, one at a time.

The webhook listens on the EventSource's endpoint and method, enforces its ``authSecret``
(bearer token) and payload limit, hands each accepted delivery to the rendered Sensor's
filters and parameter mapping (:mod:`driftloop_cluster.argo_events`), and submits the
trigger's Workflow: the WorkflowTemplate it references, with the mapped parameters, run by
the local runner (:func:`driftloop_cluster.local_run.run_workflow_locally`) with retries
replayed. Workflows holding the template's mutex run one at a time, in submission order.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from driftloop_cluster import argo_events
from driftloop_cluster.local_run import StepRun, run_workflow_locally


@dataclass
class Delivery:
    """One request the webhook received."""

    status: int
    """HTTP status answered."""
    event_id: str
    """``event_id`` of the body, when it has one."""
    outcome: str
    """unauthorised / rejected / filtered / submitted <workflow>."""


@dataclass
class WorkflowRun:
    """A submitted Workflow and what became of it."""

    name: str
    parameters: dict[str, str]
    phase: str = "Pending"
    """Pending, Running, Succeeded, Failed, Error."""
    steps: list[StepRun] = field(default_factory=list)
    error: str = ""

    def exit_code(self, step: str) -> int | None:
        """Exit code of a step (None: did not run)."""
        return next((s.exit_code for s in self.steps if s.name == step), None)


def workflow_phase(steps: list[StepRun], template: Mapping[str, Any]) -> str:
    """Succeeded unless a step failed without ``continueOn.failed`` (Argo's rule)."""
    tolerant = {
        s["name"]
        for group in _entry_steps(template)
        for s in group
        if (s.get("continueOn") or {}).get("failed")
    }
    for step in steps:
        if step.exit_code not in (None, 0) and step.name not in tolerant:
            return "Failed"
    return "Succeeded"


def _entry_steps(template: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    spec = template.get("spec") or {}
    entry = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    return list(entry["steps"])


class WorkflowController:
    """Runs submitted workflows in order, one at a time (the template's mutex)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        state_dir: Path,
        step_env: Callable[[str], Mapping[str, str]],
        rewrite: Callable[[str], str],
        backoff_scale: float,
    ) -> None:
        self.template = template
        self.state_dir = state_dir
        self.step_env = step_env
        self.rewrite = rewrite
        self.backoff_scale = backoff_scale
        self.runs: list[WorkflowRun] = []
        self._queue: queue.Queue[WorkflowRun | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def submit(self, resource: Mapping[str, Any], parameters: Mapping[str, str]) -> WorkflowRun:
        """Queue a Workflow made from the trigger's resource."""
        ref = ((resource.get("spec") or {}).get("workflowTemplateRef") or {}).get("name")
        if ref != self.template["metadata"]["name"]:
            raise argo_events.TriggerError(f"workflowTemplateRef {ref!r} is not rendered")
        prefix = (resource.get("metadata") or {}).get("generateName", "workflow-")
        run = WorkflowRun(f"{prefix}{len(self.runs) + 1:03d}", dict(parameters))
        self.runs.append(run)
        self._queue.put(run)
        return run

    def _work(self) -> None:
        while (run := self._queue.get()) is not None:
            run.phase = "Running"
            defaults = {
                p["name"]: str(p.get("value", ""))
                for p in self.template["spec"]["arguments"]["parameters"]
            }
            values = {k: self.rewrite(v) for k, v in {**defaults, **run.parameters}.items()}
            try:
                run.steps = run_workflow_locally(
                    self.template, self.state_dir / run.name, parameters=values,
                    env=self.step_env, retries=True, backoff_scale=self.backoff_scale,
                )  # fmt: skip
                run.phase = workflow_phase(run.steps, self.template)
            except Exception as err:  # the workflow errs; the controller goes on
                run.phase, run.error = "Error", f"{type(err).__name__}: {err}"
            self._queue.task_done()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every submitted workflow has finished; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(r.phase not in ("Pending", "Running") for r in self.runs):
                return True
            time.sleep(0.5)
        return False

    def close(self) -> None:
        """Stop taking work (a running workflow finishes in its thread)."""
        self._queue.put(None)


def _handler(
    spec: argo_events.WebhookSpec,
    sensor: dict[str, Any],
    secrets: Mapping[tuple[str, str], str],
    controller: WorkflowController,
    deliveries: list[Delivery],
    captured: list[tuple[dict[str, str], bytes]] | None = None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _answer(self, status: int, text: str, event_id: str, outcome: str) -> None:
            deliveries.append(Delivery(status, event_id, outcome))
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(text.encode())

        def _handle(self) -> None:
            if self.path.split("?")[0] != spec.endpoint:
                return self._answer(404, "not found", "", "wrong endpoint")
            if self.command != spec.method:
                return self._answer(405, "method not allowed", "", "wrong method")
            headers = {k: v for k, v in self.headers.items()}
            if not argo_events.check_auth(spec, headers, secrets):
                return self._answer(401, "unauthorized", "", "unauthorised")
            length = int(self.headers.get("Content-Length") or 0)
            if length > spec.max_payload_size:
                return self._answer(400, "payload too large", "", "rejected (size)")
            body = self.rfile.read(length)
            event_id = _event_id(body)
            try:
                params = argo_events.sensor_parameters(sensor, headers, body)
            except ValueError as err:
                return self._answer(400, str(err), event_id, "rejected")
            if params is None:
                return self._answer(200, "success", event_id, "filtered by the Sensor")
            run = controller.submit(argo_events.sensor_trigger(sensor), params)
            if captured is not None and not captured:
                captured.append((headers, body))
            self._answer(200, "success", event_id, f"submitted {run.name}")

        do_POST = do_PUT = do_GET = _handle

    return Handler


def _event_id(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body).get("event_id", ""))
    except (ValueError, AttributeError):
        return ""


class Webhook:
    """The EventSource's webhook on 127.0.0.1 (its own port), in a thread."""

    def __init__(
        self,
        event_source: dict[str, Any],
        sensor: dict[str, Any],
        secrets: Mapping[tuple[str, str], str],
        controller: WorkflowController,
        port: int,
    ) -> None:
        self.spec = argo_events.webhook_spec(event_source)
        self.deliveries: list[Delivery] = []
        self._captured: list[tuple[dict[str, str], bytes]] = []
        handler = _handler(self.spec, sensor, secrets, controller, self.deliveries, self._captured)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = port
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def first_submitted(self) -> tuple[dict[str, str], bytes] | None:
        """Headers and body of the first delivery that submitted a workflow (to replay)."""
        return self._captured[0] if self._captured else None

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
