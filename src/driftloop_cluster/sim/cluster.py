"""The miniature cluster: the rendered overlay's workloads started as local processes.

Order of start-up, as a first deploy converges: PostgreSQL and MinIO (stand-ins), the
bucket Job, the MLflow server, the training Job, then every Deployment (one process per
replica) and the Argo Events/Workflows stand-in. Every workload reaches a Service only
through its own recording proxy (:mod:`driftloop_cluster.sim.flows`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftloop_cluster.render import render_overlay
from driftloop_cluster.sim import processes, standins
from driftloop_cluster.sim.argo_standin import Webhook, WorkflowController
from driftloop_cluster.sim.flows import Flow, Router, free_port
from driftloop_cluster.sim.netpol import Endpoint, Verdict, check_flow
from driftloop_cluster.sim.processes import Pod
from driftloop_cluster.sim.topology import (
    ContainerSpec,
    Service,
    TopologyError,
    Workload,
    container_spec,
    find,
    missing_references,
    selected_by,
    services,
    workloads,
)
from driftloop_cluster.sim.venvs import image_venv

STAND_INS = {"minio/minio": "moto S3 server", "mlflow/postgres": "PostgreSQL 15 (Debian)"}
_PROGRAM_DIRS = {"driftloop-mlflow": "mlflow", "driftloop-mlserver": "mlserver"}


class SimError(RuntimeError):
    """The miniature cluster could not come up as the manifests say."""


@dataclass(frozen=True)
class Row:
    """One workload of the report: how it runs here."""

    workload: str
    replicas: int
    runs_as: str


def _image_name(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0]


class SimCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (every process by its pid)."""

    def __init__(self, root: Path, work: Path, overlay: str = "deploy/overlays/dev",
                 backoff_scale: float = 0.02) -> None:  # fmt: skip
        self.root, self.work = root.resolve(), work.resolve()
        self.objects = render_overlay(root / overlay, root / "deploy", generate_secrets=True)
        self.workloads = workloads(self.objects)
        self.services = services(self.objects, self.workloads)
        self.router = Router()
        self.pods: list[Pod] = []
        self.rows: list[Row] = []
        self.job_exits: dict[str, int] = {}
        self._backends: dict[str, list[int]] = {s.key: [] for s in self.services}
        self._ports: dict[str, dict[int, int]] = {}
        self._programs: dict[str, dict[str, Path]] = {}
        self.backoff_scale = backoff_scale
        self.webhook: Webhook | None = None
        self._pg_dir: Path | None = None
        self.not_ready: dict[str, str] = {}
        """Pods that never passed their readiness probe, with the end of their log."""
        self.controller: WorkflowController | None = None
        problems = missing_references(self.objects)
        if problems:
            raise TopologyError("; ".join(problems))

    # --- lookup -----------------------------------------------------------------------

    def workload(self, key: str) -> Workload:
        """The workload ``namespace/name``."""
        return next(w for w in self.workloads if w.key == key)

    def secret(self, namespace: str, name: str, key: str) -> str:
        """A rendered Secret value."""
        import base64

        obj = find(self.objects, "Secret", namespace, name)
        return base64.b64decode(obj["data"][key]).decode()

    def pods_of(self, key: str) -> list[Pod]:
        """The running pods of a workload."""
        return [p for p in self.pods if p.workload.key == key]

    def url(self, pod: Pod, port: int) -> str:
        """Base URL of a pod's containerPort."""
        return f"http://127.0.0.1:{pod.ports[port]}"

    # --- env ----------------------------------------------------------------------------

    def _service_ports(self) -> list[tuple[str, int]]:
        return [(s.key, port) for s in self.services for port in s.ports]

    def rewrite_for(self, client: Workload | tuple[str, str]) -> Any:
        """A function rewriting Service DNS names as ``client`` sees them."""
        key, ns = (client.key, client.namespace) if isinstance(client, Workload) else client
        ports = self._service_ports()
        return lambda text: self.router.rewrite(text, key, ns, ports)

    def pod_env(self, workload: Workload, c: ContainerSpec, mounts: Mapping[str, Path],
                program_dir: Path) -> dict[str, str]:  # fmt: skip
        """A pod's environment: the image's basics, then the container's, rewritten."""
        rewrite = self.rewrite_for(workload)
        base = {"PATH": f"{program_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": "/tmp", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}  # fmt: skip
        env = {**base, **c.env}
        return {k: processes.map_paths(rewrite(v), mounts) for k, v in env.items()}

    # --- start-up -----------------------------------------------------------------------

    def start(self) -> None:
        """Bring the whole topology up (raises SimError naming what did not come up)."""
        self.start_store()
        self._programs.update({
            "driftloop-mlflow": {"mlflow": self._venv("mlflow") / "bin" / "mlflow"},
            "driftloop-mlserver": {"mlserver": self._venv("mlserver") / "bin" / "mlserver"},
        })  # fmt: skip
        self._start_postgres()
        self._start_deployment(self.workload("mlflow/mlflow"))
        if self.not_ready:
            raise SimError(f"the MLflow server did not come up: {self.not_ready}")
        code, output = self._run_job(self.workload("argo/driftloop-train"))
        if code != 0:
            raise SimError(f"Job argo/driftloop-train failed (exit {code}):\n{output[-3000:]}")
        for w in self.workloads:
            if w.kind == "Deployment" and w.key not in STAND_INS and not self.pods_of(w.key):
                self._start_deployment(w)
        self._start_argo()

    def start_store(self) -> None:
        """The Services, the object store stand-in and its buckets: enough for a workload
        that talks to the store only (the compact CronJob)."""
        for svc in self.services:
            for port in svc.ports:
                self.router.add_service(svc.key, port, self._backend_ports(svc, port))
        self._programs = {"driftloop": {"driftloop": Path(sys.executable).parent / "driftloop"}}
        self._start_minio()
        self._run_bucket_job()

    def store_settings(self, key: str = "argo/driftloop-compact") -> dict[str, str]:
        """The object-store settings a workload's container resolves to (URL, credentials),
        its endpoint the stand-in's own port: for reading the store from outside (no flow
        is recorded)."""
        env = self.workload(key).containers[0].env
        port = self._ports["minio/minio"][9000]
        return {"url": env["DRIFTLOOP_STORE_URL"], "endpoint": f"http://127.0.0.1:{port}",
                "key": env["DRIFTLOOP_S3__ACCESS_KEY_ID"],
                "secret": env["DRIFTLOOP_S3__SECRET_ACCESS_KEY"]}  # fmt: skip

    def _venv(self, image_dir: str) -> Path:
        return image_venv(self.root / "docker" / image_dir / "requirements.txt")

    def _backend_ports(self, svc: Service, port: int) -> Any:
        target = svc.ports[port]

        def backends() -> list[int]:
            if svc.key in self._ports:  # a stand-in: one port per Service port
                return [self._ports[svc.key][target]] if target in self._ports[svc.key] else []
            return [
                p.ports[target]
                for w in selected_by(svc, self.workloads)
                for p in self.pods_of(w.key)
                if target in p.ports and p.proc is not None and p.proc.poll() is None
            ]

        return backends

    def _start_postgres(self) -> None:
        w = self.workload("mlflow/postgres")
        port = free_port()
        self._pg_dir = standins.start_postgres(port, w.containers[0].env)
        self._ports["mlflow/postgres"] = {5432: port}
        self.rows.append(Row(w.key, 1, f"stand-in: {STAND_INS[w.key]} on :{port}"))

    def _start_minio(self) -> None:
        w = self.workload("minio/minio")
        port = free_port()
        pod = Pod(w, 0, "minio", standins.moto_command(port), log=self._log_path(w, 0))
        processes.start(pod, dict(os.environ), {}, self.work)
        if not processes.wait_ready(pod, f"http://127.0.0.1:{port}/", 60):
            raise SimError(f"moto S3 server did not start:\n{pod.tail()}")
        self.pods.append(pod)
        self._ports["minio/minio"] = {9000: port}
        self.rows.append(Row(w.key, 1, f"stand-in: {STAND_INS[w.key]} on :{port}"))

    def _run_bucket_job(self) -> None:
        w = self.workload("minio/minio-buckets")
        c = w.containers[0]
        script = self.rewrite_for(w)(" ".join(c.argv))
        endpoint = script.split("mc alias set store ", 1)[1].split()[0]
        standins.make_buckets(endpoint, standins.buckets_of_script(script),
                              c.env["MINIO_ROOT_USER"], c.env["MINIO_ROOT_PASSWORD"])  # fmt: skip
        self.job_exits[w.key] = 0
        self.rows.append(Row(w.key, 1, "stand-in: its `mc mb` buckets made through the Service"))

    def _log_path(self, w: Workload, replica: int, suffix: str = "") -> Path:
        folder = self.work / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{w.namespace}.{w.name}-{replica}{suffix}.log"

    def _pod(
        self, w: Workload, c: ContainerSpec, replica: int, suffix: str = ""
    ) -> tuple[Pod, dict[str, str]]:
        pod_dir = self.work / "pods" / f"{w.namespace}.{w.name}-{replica}{suffix}"
        mounts = processes.volume_dirs(w, c, pod_dir)
        for mount, volume in c.mounts.items():
            spec = next((v for v in w.volumes if v["name"] == volume), {})
            if "configMap" in spec:
                data = find(self.objects, "ConfigMap", w.namespace, spec["configMap"]["name"])[
                    "data"
                ]
                processes.write_config_volume(spec, data, mounts[mount])
        image = _image_name(c.image)
        programs = self._programs[image]
        ports = {p: free_port() for p in c.ports.values()}
        argv = processes.listen_locally(
            [processes.map_paths(self.rewrite_for(w)(a), mounts) for a in c.argv], ports
        )
        pod = Pod(w, replica, c.name, argv, ports, log=self._log_path(w, replica, suffix))
        env = self.pod_env(w, c, mounts, next(iter(programs.values())).parent)
        if image == "driftloop-mlserver":  # the pod's own network namespace, as settings
            env.update(MLSERVER_HOST="127.0.0.1", MLSERVER_HTTP_PORT=str(ports[8080]),
                       MLSERVER_GRPC_PORT=str(ports[8081]),
                       MLSERVER_METRICS_PORT=str(ports[8082]))  # fmt: skip
        return pod, env

    def _start_deployment(self, w: Workload, timeout_s: float = 240.0) -> None:
        c = w.containers[0]
        probe = (
            next((ct.get("readinessProbe") for ct in self._pod_spec(w)["containers"]), None) or {}
        )
        started: list[Pod] = []
        for replica in range(w.replicas):
            pod, env = self._pod(w, c, replica)
            processes.start(pod, env, self._programs[_image_name(c.image)], self.root)
            self.pods.append(pod)
            started.append(pod)
        for pod in started:
            get = probe.get("httpGet") or {}
            port = int(c.ports.get(str(get.get("port")), get.get("port") or 0))
            url = f"http://127.0.0.1:{pod.ports[port]}{get.get('path', '/')}"
            if not processes.wait_ready(pod, url, timeout_s):
                # As on a cluster, the rest comes up without it; the scenario sees it missing.
                self.not_ready[pod.name] = pod.tail(1500)
        self.rows.append(Row(w.key, w.replicas, "real: " + " ".join(c.argv)))

    def _pod_spec(self, w: Workload) -> dict[str, Any]:
        from driftloop_cluster.render import pod_specs

        return next(pod_specs(find(self.objects, w.kind, w.namespace, w.name)))

    def _run_job(self, w: Workload, timeout_s: float = 900.0) -> tuple[int, str]:
        """A Job's (or CronJob's) pod: init containers, then its container; backoffLimit."""
        spec = find(self.objects, w.kind, w.namespace, w.name)["spec"]
        if w.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        attempts = int(spec.get("backoffLimit", 6)) + 1
        code, output = -1, ""
        for attempt in range(attempts):
            code, output = self._run_pod_once(w, f"-run{len(self.job_exits)}-{attempt}", timeout_s)
            if code == 0 or code in _fail_job_codes(spec, w.containers[-1].name):
                break
        self.job_exits[w.key] = code
        self.rows.append(Row(w.key, 1, "real: " + " ".join(w.containers[-1].argv)))
        return code, output

    def _run_pod_once(self, w: Workload, suffix: str, timeout_s: float) -> tuple[int, str]:
        output = ""
        for c in [*w.init_containers, *w.containers]:
            pod, env = self._pod(w, c, 0, f"{suffix}-{c.name}")
            code = processes.run_to_end(pod, env, self._programs[_image_name(c.image)],
                                        self.root, timeout_s)  # fmt: skip
            output = pod.tail(20000)
            if code != 0:
                return code, output
        return 0, output

    def run_cronjob(self, key: str = "argo/driftloop-detect") -> tuple[int, str]:
        """The CronJob's command, now (its Job's pod, as the schedule would start it)."""
        return self._run_job(self.workload(key))

    def _start_argo(self) -> None:
        es = next(o for o in self.objects if o["kind"] == "EventSource")
        sensor = next(o for o in self.objects if o["kind"] == "Sensor")
        template = next(o for o in self.objects if o["kind"] == "WorkflowTemplate")
        ns = template["metadata"]["namespace"]
        labels = ((template["spec"].get("podMetadata") or {}).get("labels")) or {}
        steps = Workload("Workflow", ns, template["metadata"]["name"], labels, 1, (), (),
                         template["spec"].get("serviceAccountName", "default"))  # fmt: skip
        self.workloads.append(steps)
        by_step = {
            t["name"]: t["container"] for t in template["spec"]["templates"] if "container" in t
        }

        def step_env(step: str) -> dict[str, str]:
            c = container_spec(by_step[step], ns, self.objects)
            literal = {e["name"] for e in by_step[step].get("env") or [] if "value" in e}
            rewrite = self.rewrite_for(steps)
            return {k: processes.map_paths(rewrite(v), processes.IMAGE_ROOT)
                    for k, v in c.env.items() if k not in literal}  # fmt: skip

        self.controller = WorkflowController(
            template, self.work / "workflows", step_env, self.rewrite_for(steps), self.backoff_scale
        )
        source = Workload("EventSource", es["metadata"]["namespace"], es["metadata"]["name"],
                          {"eventsource-name": es["metadata"]["name"]}, 1, (), (), "")  # fmt: skip
        self.workloads.append(source)
        secrets = {(s["metadata"]["name"], k): self.secret(ns_, s["metadata"]["name"], k)
                   for s in self.objects if s["kind"] == "Secret"
                   and (ns_ := s["metadata"]["namespace"]) == source.namespace
                   for k in s.get("data") or {}}  # fmt: skip
        port = free_port()
        self.webhook = Webhook(es, sensor, secrets, self.controller, port)
        svc = f"{source.namespace}/{source.name}-eventsource-svc"
        self._ports[svc] = {
            p: port for p in next(s for s in self.services if s.key == svc).ports.values()
        }
        self.rows.append(
            Row(
                source.key, 1, f"stand-in: webhook + Sensor {sensor['metadata']['name']} on :{port}"
            )
        )
        self.rows.append(
            Row(steps.key, 1, "real steps, stand-in controller: local runner, mutex, retries")
        )

    # --- flows --------------------------------------------------------------------------

    def verdicts(self) -> list[tuple[Flow, Verdict]]:
        """Each distinct observed flow and the rendered policies' verdict on it."""
        out = []
        for flow in dict.fromkeys(self.router.flows):
            client = next(w for w in self.workloads if w.key == flow.client)
            svc = next(s for s in self.services if s.key == flow.service)
            dest = selected_by(svc, self.workloads)
            labels = dest[0].labels if dest else dict(svc.selector)
            names = {n for w in dest for c in w.containers for n, p in c.ports.items()
                     if p == svc.ports[flow.port]}  # fmt: skip
            verdict = check_flow(
                self.objects, Endpoint(client.namespace, client.labels),
                Endpoint(svc.namespace, labels), svc.ports[flow.port], names,
            )  # fmt: skip
            out.append((flow, verdict))
        return out

    def stop(self) -> None:
        """Stop every process this harness started, by pid."""
        if self.webhook:
            self.webhook.close()
        if self.controller:
            self.controller.close()
        for pod in reversed(self.pods):
            processes.stop(pod)
        if self._pg_dir is not None:
            standins.stop_postgres(self._pg_dir)
        self.router.close()


def _fail_job_codes(spec: Mapping[str, Any], container: str) -> set[int]:
    rules = (spec.get("podFailurePolicy") or {}).get("rules") or []
    return {
        int(v)
        for r in rules
        if r.get("action") == "FailJob"
        and (r.get("onExitCodes") or {}).get("containerName") in (None, container)
        and (r.get("onExitCodes") or {}).get("operator") == "In"
        for v in r["onExitCodes"].get("values") or []
    }
