"""Start a container's command as a local process, one per replica; stop it by pid.

Paths under the container's volume mounts live in a folder per pod (``emptyDir``) or per
workload (a PersistentVolumeClaim); a ConfigMap volume is written out with its items. The
image's own files are found where the image has them: ``/app`` (the driftloop image's
WORKDIR) is this checkout. Programs come from the environment that stands for the image:
``driftloop`` from this venv, ``mlflow`` and ``mlserver`` from venvs built from the images'
requirements files. Listening addresses become 127.0.0.1, and the containerPort the command
names becomes the pod's own loopback port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from driftloop_cluster.sim.topology import ContainerSpec, Workload

IMAGE_ROOT = {"/app": Path.cwd()}
"""Image paths the harness maps into this checkout (the driftloop image's WORKDIR)."""


@dataclass
class Pod:
    """One started container of one replica."""

    workload: Workload
    replica: int
    container: str
    argv: list[str]
    ports: dict[int, int] = field(default_factory=dict)
    """containerPort -> loopback port."""
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def name(self) -> str:
        """``namespace/name-<replica>``."""
        return f"{self.workload.key}-{self.replica}"

    def tail(self, chars: int = 3000) -> str:
        """The end of the pod's log."""
        return (
            self.log.read_text(errors="replace")[-chars:] if self.log and self.log.exists() else ""
        )


def map_paths(text: str, mounts: Mapping[str, Path]) -> str:
    """Replace each mount path (as a whole path prefix) with its local folder."""
    if not mounts:
        return text
    # One pass, longest first: a replaced path is never mapped again (/tmp inside it).
    names = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
    pattern = rf"(?<![\w/.-])({names})(?=/|$|[\s:;'\"])"
    return re.sub(pattern, lambda m: str(mounts[m.group(1)]), text)


def volume_dirs(workload: Workload, container: ContainerSpec, pod_dir: Path) -> dict[str, Path]:
    """mountPath -> local folder for one container of one pod."""
    by_name = {v["name"]: v for v in workload.volumes}
    dirs: dict[str, Path] = dict(IMAGE_ROOT)
    for mount, volume_name in container.mounts.items():
        volume = by_name.get(volume_name, {})
        if "persistentVolumeClaim" in volume:
            local = pod_dir.parent / f"pvc-{volume['persistentVolumeClaim']['claimName']}"
        else:
            local = pod_dir / "volumes" / volume_name
        local.mkdir(parents=True, exist_ok=True)
        dirs[mount] = local
    return dirs


def write_config_volume(volume: Mapping[str, Any], data: Mapping[str, str], target: Path) -> None:
    """Write a ConfigMap volume's items (or every key) into ``target``."""
    items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
    for item in items:
        path = target / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]])


def listen_locally(argv: Sequence[str], ports: Mapping[int, int]) -> list[str]:
    """``argv`` with 0.0.0.0 as 127.0.0.1 and ``--port <containerPort>`` as the local port."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "0.0.0.0":
            arg = "127.0.0.1"
        elif i > 0 and argv[i - 1] == "--port" and arg.isdigit() and int(arg) in ports:
            arg = str(ports[int(arg)])
        out.append(arg)
    return out


def start(pod: Pod, env: Mapping[str, str], programs: Mapping[str, Path], cwd: Path) -> None:
    """Start the pod's process (its program resolved through ``programs``), log to a file."""
    argv = list(pod.argv)
    if argv and argv[0] in programs:
        argv[0] = str(programs[argv[0]])
    pod.argv = argv
    assert pod.log is not None
    with pod.log.open("ab") as log:
        pod.proc = subprocess.Popen(
            argv, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def run_to_end(pod: Pod, env: Mapping[str, str], programs: Mapping[str, Path], cwd: Path,
               timeout_s: float) -> int:  # fmt: skip
    """Run a Job's container to completion; its exit code."""
    start(pod, env, programs, cwd)
    assert pod.proc is not None
    try:
        return pod.proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(pod)
        return -1


def wait_ready(pod: Pod, url: str, timeout_s: float) -> bool:
    """Poll ``url`` (the readiness probe) until 200; False when the process died or timed out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pod.proc is not None and pod.proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def stop(pod: Pod, timeout_s: float = 15.0) -> None:
    """SIGTERM the pod's process group by pid, then SIGKILL."""
    proc = pod.proc
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout_s)
