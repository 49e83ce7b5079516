"""Run a WorkflowTemplate's steps locally, in order, the way Argo would run them.

Each step's container command runs as a local process (``driftloop ...`` from this
environment) with the template's parameters substituted, its ``when`` condition evaluated
on the exit codes of earlier steps and ``continueOn.failed`` honoured. Paths under the
template's volume mounts (``/work/...``) are mapped into a local state folder, so the steps
share files as the pods share the workflow volume. What comes from the cluster (Secrets,
ConfigMaps) is left out: the caller passes the local environment instead. Retries are
replayed only when asked (``retries=True``: each step's ``retryStrategy`` limit and
expression, its back-off scaled by ``backoff_scale``); by default a local run shows each
step's first answer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftloop_cluster.commands import substitute_parameters

_STEP_EXIT = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_-]+)\.exitCode\s*\}\}")
_CLUSTER_ENV_PREFIXES = ("DRIFTLOOP_", "AWS_", "MLFLOW_S3_", "MLFLOW_TRACKING_")
_SCRATCH_MOUNTS = frozenset({"/tmp"})  # emptyDir scratch space: the local /tmp will do


@dataclass(frozen=True)
class StepRun:
    """What became of one step."""

    name: str
    """Step name."""
    argv: tuple[str, ...]
    """Command as run (or as it would have run)."""
    exit_code: int | None
    """Exit code; None when the step did not run."""
    skipped: str | None = None
    """Why the step did not run (its ``when`` was false, it was excluded, an earlier
    step failed); None when it ran."""
    output: str = ""
    """Standard output and error, last 4,000 characters."""
    attempts: int = 1
    """How many times it ran (retries replayed)."""


@dataclass(frozen=True)
class WorkflowStep:
    """One step of a steps template, in run order."""

    name: str
    """Step name."""
    template: Mapping[str, Any]
    """The container template it runs."""
    when: str | None
    """Its condition, if any."""
    continue_on_failed: bool
    """True when the workflow goes on after this step fails."""


def workflow_steps(template: Mapping[str, Any]) -> list[WorkflowStep]:
    """The steps of the entrypoint template, flattened in run order (groups in sequence)."""
    spec = template.get("spec") or {}
    by_name = {t["name"]: t for t in spec.get("templates") or []}
    entry = by_name.get(spec.get("entrypoint", ""))
    if entry is None or "steps" not in entry:
        raise ValueError("the entrypoint must be a steps template")
    steps: list[WorkflowStep] = []
    for group in entry["steps"]:
        for step in group:
            target = by_name.get(step.get("template", ""))
            if target is None or "container" not in target:
                raise ValueError(f"step {step.get('name')!r} must run a container template")
            steps.append(
                WorkflowStep(
                    name=step["name"],
                    template=target,
                    when=step.get("when"),
                    continue_on_failed=bool((step.get("continueOn") or {}).get("failed")),
                )
            )
    return steps


def default_parameters(template: Mapping[str, Any]) -> dict[str, str]:
    """The template's workflow parameters with their default values."""
    params = ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    return {p["name"]: str(p.get("value", "")) for p in params}


def _compare(left: str, op: str, right: str) -> bool:
    a, b = left.strip().strip("'\""), right.strip().strip("'\"")
    try:
        x: Any = float(a)
        y: Any = float(b)
    except ValueError:
        x, y = a, b
    if op in ("<", ">", "<=", ">=") and not isinstance(x, float):
        raise ValueError(f"cannot order {a!r} and {b!r}")
    return {
        "==": x == y,
        "!=": x != y,
        "<": x < y,
        ">": x > y,
        "<=": x <= y,
        ">=": x >= y,
    }[op]


def evaluate_when(expression: str) -> bool:
    """Evaluate a substituted Argo ``when`` expression: comparisons joined by ``&&`` and
    ``||`` (``&&`` binds tighter), literals true/false. Enough for the expressions driftloop
    writes; anything else is an error rather than a guess."""
    for disjunct in expression.split("||"):
        if all(_evaluate_term(term) for term in disjunct.split("&&")):
            return True
    return False


def _evaluate_term(term: str) -> bool:
    term = term.strip()
    if term.startswith("(") and term.endswith(")"):
        return evaluate_when(term[1:-1])
    match = re.fullmatch(r"(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+)", term)
    if match:
        return _compare(*match.groups())
    if term in ("true", "false"):
        return term == "true"
    raise ValueError(f"cannot evaluate {term!r}")


def _duration_s(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text).strip())
    if not match:
        raise ValueError(f"cannot read duration {text!r}")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2) or "s"]
    return float(match.group(1)) * scale


def retry_delay(strategy: Mapping[str, Any], exit_code: int, attempt: int) -> float | None:
    """Seconds to wait before retry ``attempt`` (1, 2, ...) of a step that exited with
    ``exit_code``, or None when its ``retryStrategy`` does not retry it (limit reached,
    ``expression`` false). Supports the expressions driftloop writes
    (``asInt(lastRetry.exitCode) <op> <n>``)."""
    if exit_code == 0 or attempt > int(strategy.get("limit", 0)):
        return None
    expression = strategy.get("expression")
    if expression:
        condition = re.sub(r"asInt\(lastRetry\.exitCode\)", str(exit_code), expression)
        if not evaluate_when(condition):
            return None
    backoff = strategy.get("backoff") or {}
    delay = _duration_s(backoff.get("duration", "0")) * float(backoff.get("factor", 1)) ** (
        attempt - 1
    )
    if "cap" in backoff:
        delay = min(delay, _duration_s(backoff["cap"]))
    return delay


def _map_paths(text: str, mounts: Mapping[str, Path]) -> str:
    for mount, local in mounts.items():
        text = re.sub(rf"(?<![\w/]){re.escape(mount)}(?=/|$)", str(local), text)
    return text


def _clean_environment() -> dict[str, str]:
    # The caller's own cluster settings must not leak into a local run.
    return {k: v for k, v in os.environ.items() if not k.startswith(_CLUSTER_ENV_PREFIXES)}


@dataclass(frozen=True)
class _RunContext:
    """What every step of one local run shares."""

    state_dir: Path
    values: Mapping[str, str]
    program: Sequence[str]
    env: Mapping[str, str] | Callable[[str], Mapping[str, str]] | None
    cwd: Path
    timeout_s: float
    retries: bool
    backoff_scale: float


def _step_mounts(container: Mapping[str, Any], state_dir: Path) -> dict[str, Path]:
    """mountPath -> local folder (made) for one step's volume mounts, scratch left out."""
    mounts = {
        m["mountPath"]: state_dir / "volumes" / m["name"]
        for m in container.get("volumeMounts") or []
        if m["mountPath"] not in _SCRATCH_MOUNTS
    }
    for local in mounts.values():
        local.mkdir(parents=True, exist_ok=True)
    return mounts


def _step_argv(
    container: Mapping[str, Any], resolve: Callable[[str], str], program: Sequence[str]
) -> list[str]:
    """The container's command and args, resolved, ``driftloop`` replaced by ``program``."""
    argv = [resolve(str(a)) for a in [*container.get("command", []), *container.get("args", [])]]
    return [*program, *argv[1:]] if argv[:1] == ["driftloop"] else argv


def _skip_reason(
    step: WorkflowStep,
    run: _RunContext,
    exit_codes: Mapping[str, int],
    skip: Collection[str],
    stopped: str | None,
) -> str | None:
    """Why the step does not run (an earlier failure, excluded, its ``when``), or None."""
    if stopped is not None:
        return stopped
    if step.name in skip:
        return "excluded from this run"
    if step.when is not None:
        condition = _STEP_EXIT.sub(
            lambda m: str(exit_codes.get(m.group(1), "")),
            substitute_parameters(step.when, run.values),
        )
        if not evaluate_when(condition):
            return f"when: {condition}"
    return None


def _step_environment(
    step: WorkflowStep, run: _RunContext, resolve: Callable[[str], str]
) -> dict[str, str]:
    """This process's environment without cluster settings, the container's literal env
    values, then the caller's."""
    step_env = _clean_environment()
    for item in step.template["container"].get("env") or []:
        if "value" in item:  # valueFrom (Secrets, fields) exists only in the cluster
            step_env[item["name"]] = resolve(str(item["value"]))
    step_env.update((run.env(step.name) if callable(run.env) else run.env) or {})
    return step_env


def _run_attempts(
    step: WorkflowStep, run: _RunContext, argv: Sequence[str], step_env: Mapping[str, str]
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the step's command, replaying its retryStrategy when asked; the last result and
    how many attempts were made."""
    strategy = step.template.get("retryStrategy") if run.retries else None
    attempt = 0
    while True:
        result = subprocess.run(
            list(argv),
            env=dict(step_env),
            cwd=run.cwd,
            capture_output=True,
            text=True,
            timeout=run.timeout_s,
            check=False,
        )
        attempt += 1
        delay = retry_delay(strategy, result.returncode, attempt) if strategy else None
        if delay is None:
            return result, attempt
        time.sleep(delay * run.backoff_scale)


def run_workflow_locally(
    template: Mapping[str, Any],
    state_dir: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    env: Mapping[str, str] | Callable[[str], Mapping[str, str]] | None = None,
    skip: Collection[str] = (),
    driftloop: Sequence[str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 1800.0,
    retries: bool = False,
    backoff_scale: float = 1.0,
) -> list[StepRun]:
    """Run the template's steps in order as local processes and report each one.

    Parameters default to the template's, except ``data-dir``, which becomes a ``file://``
    store in ``state_dir/store``; ``parameters`` override both. Paths under the template's
    volume mounts live in ``state_dir/volumes/<volume>``. ``env`` is added to a copy of this
    process's environment without its DRIFTLOOP_/AWS_/MLflow-server variables, after the
    template's literal env values (a callable: given the step name, its env). ``skip`` names
    steps not to run (e.g. ``reload`` with no API about). ``driftloop`` replaces the program
    ``driftloop`` (default: the one beside this Python). Steps run in ``cwd`` (default: the
    current folder, where relative paths such as ``configs/telco.yaml`` resolve).
    ``retries`` replays each step's retryStrategy (back-off times ``backoff_scale``); a
    step's output then ends with its last attempt."""
    state_dir = state_dir.resolve()
    values = default_parameters(template)
    values["data-dir"] = (state_dir / "store").as_uri()
    values.update(parameters or {})
    run = _RunContext(
        state_dir, values, list(driftloop or [str(Path(sys.executable).parent / "driftloop")]),
        env, cwd or Path.cwd(), timeout_s, retries, backoff_scale,
    )  # fmt: skip
    exit_codes: dict[str, int] = {}
    runs: list[StepRun] = []
    stopped: str | None = None
    for step in workflow_steps(template):
        mounts = _step_mounts(step.template["container"], state_dir)

        def resolve(text: str, mounts: Mapping[str, Path] = mounts) -> str:
            return _map_paths(substitute_parameters(text, values), mounts)

        argv = _step_argv(step.template["container"], resolve, run.program)
        reason = _skip_reason(step, run, exit_codes, skip, stopped)
        if reason is not None:
            runs.append(StepRun(step.name, tuple(argv), None, skipped=reason))
            continue
        result, attempts = _run_attempts(step, run, argv, _step_environment(step, run, resolve))
        exit_codes[step.name] = result.returncode
        output = (result.stdout + result.stderr)[-4000:]
        runs.append(
            StepRun(step.name, tuple(argv), result.returncode, output=output, attempts=attempts)
        )
        if result.returncode != 0 and not step.continue_on_failed:
            stopped = f"step {step.name} failed (exit {result.returncode})"
    return runs


def run_succeeded(runs: Sequence[StepRun], answers: Mapping[str, Collection[int]]) -> bool:
    """True when every step that ran exited 0, or with one of the exit codes ``answers``
    allows for it (e.g. ``{"detect": {0, 3}}``), and no step was cut off by a failure."""
    for run in runs:
        if run.skipped is not None and run.skipped.startswith("step "):
            return False
        if run.exit_code is not None and run.exit_code not in answers.get(run.name, {0}):
            return False
    return True
