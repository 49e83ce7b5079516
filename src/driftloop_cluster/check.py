"""``python -m driftloop_cluster.check``: every manifest check, without a cluster.

In order: the Hera-generated WorkflowTemplate is up to date; every overlay renders; every
object is valid (core kinds strict for each supported Kubernetes version, Argo kinds against
the strict Argo schemas); images are pinned; every Secret and ConfigMap a pod refers to is
rendered with the keys it needs (or listed as expected in the cluster); every container
command parses with its CLI; no credential-looking literal is committed; the Argo CD
Application points at an overlay that renders; and last, the WorkflowTemplate's steps run
locally in order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftloop_cluster import workflow
from driftloop_cluster.commands import check_commands, container_commands
from driftloop_cluster.credentials import scan_paths
from driftloop_cluster.local_run import StepRun, run_succeeded, run_workflow_locally
from driftloop_cluster.render import (
    DEPLOY_DIR,
    RenderError,
    list_overlays,
    pod_specs,
    render_overlay,
)
from driftloop_cluster.validate import describe, validate_objects

CREDENTIAL_ROOTS: tuple[Path, ...] = (
    Path("deploy"),
    Path("docs"),
    Path("docker"),
    Path(".github"),
    Path("README.md"),
    Path("Makefile"),
)
"""Where committed text is scanned for credential-looking literals."""
ARGOCD_APPLICATION = DEPLOY_DIR / "argocd" / "application.yaml"
DETECT_ANSWERS = {"detect": {0, 3}}
"""Exit codes that are answers, not failures, in a local run (detect: 0 or 3)."""

LocalSetup = Callable[[Path, dict[str, str]], Mapping[str, str] | None]
"""Prepares a local state folder for the steps (data set, champion, traffic). It may add to
the environment the steps run with, and returns workflow parameters to set (or None)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    """What was checked."""
    ok: bool
    """True when it passed."""
    details: tuple[str, ...] = field(default_factory=tuple)
    """Problems when it failed; notes when it passed."""


def check_workflow_generated(path: Path = workflow.TEMPLATE_PATH) -> CheckResult:
    """The committed WorkflowTemplate YAML is what the Hera code generates."""
    expected = workflow.render_drift_retrain_template()
    current = path.read_text() if path.exists() else ""
    if current == expected:
        return CheckResult("workflow template generated", True)
    return CheckResult(
        "workflow template generated",
        False,
        (f"{path} differs from the Hera code: run `python -m driftloop_cluster.workflow`",),
    )


def render_all(overlays: Sequence[Path]) -> tuple[CheckResult, dict[Path, list[dict[str, Any]]]]:
    """Render every overlay; the objects of those that rendered."""
    rendered: dict[Path, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for overlay in overlays:
        try:
            rendered[overlay] = render_overlay(overlay)
        except RenderError as err:
            problems.append(str(err))
    notes = tuple(f"{o}: {len(objs)} objects" for o, objs in rendered.items())
    return CheckResult(
        "overlays render", not problems and bool(overlays), tuple(problems) or notes
    ), rendered


def check_schemas(rendered: Mapping[Path, list[dict[str, Any]]]) -> CheckResult:
    """Every object is valid for its schema."""
    problems = [f"{o}: {p}" for o, objs in rendered.items() for p in validate_objects(objs)]
    return CheckResult(
        "objects valid (kubernetes-validate strict, Argo schemas strict, JetStream version)",
        not problems,
        tuple(problems),
    )


def _containers(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(dict(obj)):
        for key in ("initContainers", "containers"):
            yield from spec.get(key) or []
    if str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
        for template in (obj.get("spec") or {}).get("templates") or []:
            if template.get("container"):
                yield template["container"]
            yield from template.get("initContainers") or []
            yield from template.get("sidecars") or []


def check_images_pinned(rendered: Mapping[Path, list[dict[str, Any]]]) -> CheckResult:
    """Every image names a tag or digest other than ``latest``."""
    problems = []
    for overlay, objects in rendered.items():
        for obj in objects:
            for c in _containers(obj):
                image = str(c.get("image", ""))
                last = image.rsplit("/", 1)[-1]
                if "@" not in image and (":" not in last or last.endswith(":latest")):
                    problems.append(f"{overlay}: {describe(obj)} {c.get('name')}: {image!r}")
    return CheckResult("images pinned", not problems, tuple(problems))


def _references(obj: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key) of every Secret and ConfigMap an object refers to."""
    for spec in pod_specs(dict(obj)):
        for volume in spec.get("volumes") or []:
            if volume.get("secret"):
                yield "Secret", volume["secret"].get("secretName", ""), None
            if volume.get("configMap"):
                for item in volume["configMap"].get("items") or [{}]:
                    yield "ConfigMap", volume["configMap"].get("name", ""), item.get("key")
    for c in _containers(obj):
        for item in c.get("envFrom") or []:
            if item.get("secretRef"):
                yield "Secret", item["secretRef"]["name"], None
            if item.get("configMapRef"):
                yield "ConfigMap", item["configMapRef"]["name"], None
        for item in c.get("env") or []:
            source = item.get("valueFrom") or {}
            if source.get("secretKeyRef"):
                yield "Secret", source["secretKeyRef"]["name"], source["secretKeyRef"].get("key")
            if source.get("configMapKeyRef"):
                ref = source["configMapKeyRef"]
                yield "ConfigMap", ref["name"], ref.get("key")
    if obj.get("kind") == "EventSource":
        for hook in ((obj.get("spec") or {}).get("webhook") or {}).values():
            if hook.get("authSecret"):
                yield "Secret", hook["authSecret"]["name"], hook["authSecret"].get("key")


def check_references(overlay: Path, objects: Sequence[Mapping[str, Any]]) -> CheckResult:
    """Every Secret and ConfigMap referred to is rendered, with the keys referred to.

    An overlay that generates no Secret (one Argo CD syncs) expects them in the cluster:
    they are listed, not failed."""
    available: dict[tuple[str, str, str], set[str]] = {}
    for obj in objects:
        if obj.get("kind") in ("Secret", "ConfigMap"):
            meta = obj.get("metadata") or {}
            keys = set((obj.get("data") or {}) | (obj.get("stringData") or {}))
            available[(obj["kind"], meta.get("namespace", ""), meta.get("name", ""))] = keys
    generates_secrets = any(kind == "Secret" for kind, _, _ in available)
    problems: set[str] = set()
    expected: set[str] = set()
    for obj in objects:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        for kind, name, key in _references(obj):
            found = available.get((kind, namespace, name))
            label = f"{kind} {namespace}/{name}" + (f" key {key}" if key else "")
            if found is None and kind == "Secret" and not generates_secrets:
                expected.add(label)
            elif found is None:
                problems.add(f"{describe(obj)} refers to missing {kind} {namespace}/{name}")
            elif key is not None and key not in found:
                problems.add(
                    f"{describe(obj)} refers to missing key {key} of {kind} {namespace}/{name}"
                )
    notes = tuple(sorted(f"expected in the cluster: {e}" for e in expected))
    return CheckResult(
        f"references resolve ({overlay.name})", not problems, tuple(sorted(problems)) or notes
    )


def check_container_commands(rendered: Mapping[Path, list[dict[str, Any]]]) -> CheckResult:
    """Every container command parses with its CLI (driftloop, mlflow)."""
    seen: dict[tuple[str, tuple[str, ...]], Any] = {}
    for objects in rendered.values():
        for cmd in container_commands(objects):
            seen.setdefault((cmd.source, cmd.argv), cmd)
    report = check_commands(list(seen.values()))
    notes = [f"parsed: {' '.join(c.argv[:2])} ({c.source})" for c in report.checked]
    notes += [
        f"not a checked CLI: {' '.join(c.argv[:2]) or c.image} ({c.source})"
        for c in report.unchecked
    ]
    return CheckResult("container commands parse", report.ok, report.problems or tuple(notes))


def check_credentials(roots: Sequence[Path] = CREDENTIAL_ROOTS) -> CheckResult:
    """No committed manifest, doc or build file holds a credential-looking literal."""
    findings = scan_paths(roots)
    return CheckResult("no credential literals", not findings, tuple(str(f) for f in findings))


def check_argocd_application(
    rendered: Mapping[Path, list[dict[str, Any]]], path: Path = ARGOCD_APPLICATION
) -> CheckResult:
    """The Argo CD Application points at an overlay of this repository that renders."""
    if not path.exists():
        return CheckResult("Argo CD application", False, (f"{path} is missing",))
    app = yaml.safe_load(path.read_text())
    problems = []
    if (app.get("apiVersion"), app.get("kind")) != ("argoproj.io/v1alpha1", "Application"):
        problems.append("not an argoproj.io/v1alpha1 Application")
    spec = app.get("spec") or {}
    source_path = Path((spec.get("source") or {}).get("path", ""))
    repo_root = path.resolve().parents[2]  # deploy/argocd/application.yaml -> the repository
    if (repo_root / source_path).resolve() not in {o.resolve() for o in rendered}:
        problems.append(f"source.path {str(source_path)!r} is not an overlay that rendered")
    destination = spec.get("destination") or {}
    if not (destination.get("server") or destination.get("name")):
        problems.append("destination names no cluster")
    return CheckResult("Argo CD application", not problems, tuple(problems))


def check_local_run(
    template_path: Path = workflow.TEMPLATE_PATH,
    setup: LocalSetup | None = None,
    parameters: Mapping[str, str] | None = None,
    skip: Sequence[str] = ("reload",),
) -> tuple[CheckResult, list[StepRun]]:
    """Run the WorkflowTemplate's steps locally in a fresh state folder.

    ``setup`` prepares the folder first (data set, champion, logged traffic), may add to the
    environment and returns parameters (e.g. ``current-data-path``), which ``parameters``
    override. ``reload`` is skipped by default: no API listens here."""
    template = yaml.safe_load(template_path.read_text())
    with tempfile.TemporaryDirectory(prefix="driftloop-steps-") as tmp:
        state = Path(tmp)
        # The same store (the data-dir the runner gives the steps) and MLflow database for
        # the setup and for every step.
        env = {
            "DRIFTLOOP_STATE_DIR": str(state / "state"),
            "DRIFTLOOP_STORE_URL": (state / "store").as_uri(),
            "DRIFTLOOP_ENV": "development",
        }
        chosen = dict(setup(state, env) or {}) if setup is not None else {}
        chosen.update(parameters or {})
        runs = run_workflow_locally(template, state, parameters=chosen, env=env, skip=skip)
    lines = []
    for run in runs:
        if run.exit_code is None:
            lines.append(f"{run.name}: skipped ({run.skipped})")
        else:
            lines.append(f"{run.name}: exit {run.exit_code}: {' '.join(run.argv[1:3])}")
            if run.exit_code not in DETECT_ANSWERS.get(run.name, {0}):
                lines.append("    " + run.output.strip().replace("\n", "\n    ")[-1500:])
    return CheckResult(
        "workflow steps run locally", run_succeeded(runs, DETECT_ANSWERS), tuple(lines)
    ), runs


def run_checks(local_run: bool = True, setup: LocalSetup | None = None) -> list[CheckResult]:
    """All checks, in order (the local run last)."""
    results = [check_workflow_generated()]
    rendered_result, rendered = render_all(list_overlays())
    results.append(rendered_result)
    results.append(check_schemas(rendered))
    results.append(check_images_pinned(rendered))
    results.extend(check_references(o, objs) for o, objs in rendered.items())
    results.append(check_container_commands(rendered))
    results.append(check_credentials())
    results.append(check_argocd_application(rendered))
    if local_run:
        results.append(check_local_run(setup=setup)[0])
    return results


def demo_setup(state: Path, env: dict[str, str]) -> dict[str, str]:
    """Prepare the quick telco spec, train a champion, write a drifted labelled window.

    What a cluster has before the workflow runs: a dataset, a champion, production data.
    """
    import subprocess

    import pandas as pd

    env["DRIFTLOOP_SPEC"] = str(Path("configs/telco-quick.yaml").resolve())
    full_env = {**os.environ, **env}
    for args in (["prepare"], ["train"]):
        subprocess.run(
            [sys.executable, "-m", "driftloop", *args],
            env=full_env,
            check=True,
            capture_output=True,
        )
    store = Path(env["DRIFTLOOP_STORE_URL"].removeprefix("file://"))
    version = json.loads((store / "datasets" / "latest.json").read_text())["version"]
    window = pd.read_parquet(store / "datasets" / version / "test.parquet")
    window["monthly_charges"] = window["monthly_charges"] * 1.5 + 20
    window["churn"] = window["churn"].map({1: "Yes", 0: "No"})
    path = state / "current.csv"
    window.to_csv(path, index=False)
    return {"current-data-path": str(path)}


def print_results(results: Sequence[CheckResult], verbose: bool = False) -> None:
    """One line a check, then its problems (or, verbose, its notes)."""
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}")
        if not result.ok or verbose:
            for line in result.details:
                print(f"        {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks; exit 1 when any fails."""
    parser = argparse.ArgumentParser(prog="python -m driftloop_cluster.check", description=__doc__)
    parser.add_argument("--no-local-run", action="store_true", help="skip running the steps")
    parser.add_argument("-v", "--verbose", action="store_true", help="print notes too")
    args = parser.parse_args(argv)
    results = run_checks(local_run=not args.no_local_run, setup=demo_setup)
    print_results(results, verbose=args.verbose)
    failed = [r.name for r in results if not r.ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
