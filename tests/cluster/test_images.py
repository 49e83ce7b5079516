"""The Dockerfiles and the CI workflow, read as text (no Docker engine runs here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from .conftest import ROOT

DOCKER = ROOT / "docker"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(dockerfile):
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"]}


def test_driftloop_image_is_multi_stage_from_the_lock() -> None:
    dockerfile = DOCKER / "driftloop" / "Dockerfile"
    stages = _stages(dockerfile)
    assert len(stages) >= 3  # uv, build, runtime
    build = " ".join(f"{i} {a}" for i, a in stages[-2])
    assert "COPY pyproject.toml uv.lock" in build
    assert "uv sync --frozen --no-dev" in build
    runtime = stages[-1]
    assert runtime[0][1].split(" AS ")[0] == stages[-2][0][1].split(" AS ")[0]  # same base
    assert any(i == "COPY" and a.startswith("--from=build") for i, a in runtime)
    user = [a for i, a in runtime if i == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["driftloop"]') in runtime


def test_build_context_sends_what_the_dockerfile_copies() -> None:
    ignore = (DOCKER / "driftloop" / "Dockerfile.dockerignore").read_text().splitlines()
    copied = {
        word
        for i, a in _instructions(DOCKER / "driftloop" / "Dockerfile")
        if i == "COPY" and not a.startswith("--from")
        for word in a.split()[:-1]
    }
    for path in copied:
        assert f"!{path}" in ignore or f"!{path}/" in ignore, path
        assert (ROOT / path).exists(), path


def test_side_images_run_as_non_root_on_python_3_11() -> None:
    for name in ("mlserver", "mlflow"):
        instructions = _instructions(DOCKER / name / "Dockerfile")
        assert instructions[0][0] == "FROM" and "python:3.11" in instructions[0][1]
        assert [a for i, a in instructions if i == "USER"][-1].startswith("10001")


def test_mlserver_pins_match_the_lock() -> None:
    """The champion is unpickled inside MLServer: same libraries as the ones that trained it."""
    locked = _locked_versions()
    pins = {}
    for line in (DOCKER / "mlserver" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    assert pins["mlserver"] == pins["mlserver-mlflow"] == "1.7.1"
    for name in ("mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops"):
        assert pins[name] == locked[name], f"{name}: image {pins[name]}, uv.lock {locked[name]}"
    mlflow_pins = dict(
        line.split("==")
        for line in (DOCKER / "mlflow" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert mlflow_pins["mlflow"] == locked["mlflow"]
    assert "psycopg2-binary" in mlflow_pins and "boto3" in mlflow_pins


def test_ci_lints_tests_builds_and_checks() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    for target in ("make lint", "make test", "make manifests-check"):
        assert any(r.startswith(target) for r in runs), target
    images = ci["jobs"]["images"]
    build = next(
        s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push-action")
    )
    assert build["with"]["push"] is False
    for entry in images["strategy"]["matrix"]["include"]:
        assert (ROOT / entry["file"]).exists() and (ROOT / entry["context"]).is_dir()


def test_make_images_builds_for_the_host_unless_told(tmp_path: Path) -> None:
    import shutil
    import subprocess

    make = shutil.which("make")
    if make is None:
        import pytest

        pytest.skip("make is not installed")
    host = subprocess.run([make, "-n", "images"], cwd=ROOT, capture_output=True, text=True)
    builds = [line for line in host.stdout.splitlines() if line.startswith("docker build")]
    assert len(builds) == 3 and not any("--platform" in line for line in builds), host.stdout
    cross = subprocess.run(
        [make, "-n", "images", "PLATFORM=linux/arm64"], cwd=ROOT, capture_output=True, text=True
    )
    assert cross.stdout.count("--platform linux/arm64") == 3, cross.stdout


def test_servicemonitor_carries_the_label_kube_prometheus_stack_selects() -> None:
    import subprocess

    from driftloop_cluster.render import kubectl_path

    out = subprocess.run(
        [kubectl_path(), "kustomize", str(ROOT / "deploy" / "grafana")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    monitor = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
