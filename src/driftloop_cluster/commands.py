"""Parse every container command of the rendered manifests with the real CLI it calls.

A container of the driftloop image runs ``driftloop ...``; its arguments are parsed by the
Typer app (``driftloop.cli.app:app``) exactly as at run time, without running anything: an
unknown option, a missing required one or a bad value is reported with the object it came
from. ``mlflow server ...`` is parsed by MLflow's own click CLI the same way. Argo
placeholders (``{{workflow.parameters.x}}``) are replaced with the template's defaults first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftloop_cluster.render import pod_specs
from driftloop_cluster.validate import describe

DRIFTLOOP_IMAGE = "driftloop"
"""Repository basename of the driftloop image (its ENTRYPOINT is ``driftloop``)."""

_PLACEHOLDER = re.compile(r"\{\{\s*workflow\.parameters\.([A-Za-z0-9_.-]+)\s*\}\}")


@dataclass(frozen=True)
class ContainerCommand:
    """The command one container runs."""

    source: str
    """Object and container it comes from."""
    image: str
    """Container image."""
    argv: tuple[str, ...]
    """command + args (the image entrypoint stands in when command is empty)."""


def image_basename(image: str) -> str:
    """Repository basename of an image: ``ghcr.io/x/driftloop:1.0`` -> ``driftloop``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _argo_defaults(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    params = ((spec.get("arguments") or {}).get("parameters")) or []
    return {p["name"]: str(p.get("value", "")) for p in params if "name" in p}


def substitute_parameters(text: str, parameters: Mapping[str, str]) -> str:
    """Replace ``{{workflow.parameters.x}}`` with the value of x (unknown ones are kept)."""
    return _PLACEHOLDER.sub(lambda m: parameters.get(m.group(1), m.group(0)), text)


def _argo_containers(obj: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    for template in spec.get("templates") or []:
        name = template.get("name", "?")
        for key in ("container", "script"):
            if template.get(key):
                yield f"template {name}", template[key]
        for key in ("initContainers", "sidecars"):
            for c in template.get(key) or []:
                yield f"template {name} {key[:-1]} {c.get('name', '?')}", c
        for c in (template.get("containerSet") or {}).get("containers") or []:
            yield f"template {name} container {c.get('name', '?')}", c


def container_commands(objects: Sequence[Mapping[str, Any]]) -> list[ContainerCommand]:
    """Every container command in the objects: pod templates and Argo templates."""
    found: list[ContainerCommand] = []
    for obj in objects:
        where = describe(obj)
        if str(obj.get("apiVersion", "")).startswith("argoproj.io/"):
            params = _argo_defaults(obj)
            containers = list(_argo_containers(obj))
        else:
            params = {}
            containers = [
                (f"container {c.get('name', '?')}", c)
                for spec in pod_specs(dict(obj))
                for key in ("initContainers", "containers")
                for c in spec.get(key) or []
            ]
        for label, container in containers:
            image = str(container.get("image", ""))
            argv = [*(container.get("command") or []), *(container.get("args") or [])]
            if not container.get("command") and image_basename(image) == DRIFTLOOP_IMAGE:
                argv = ["driftloop", *argv]
            argv = [substitute_parameters(str(a), params) for a in argv]
            found.append(ContainerCommand(f"{where} {label}", image, tuple(argv)))
    return found


def parse_command_line(cli: Any, prog: str, args: Sequence[str]) -> str | None:
    """Parse args with a click or Typer command as at run time, running nothing.

    Returns None when they parse, else the error the CLI reports. Typer 0.2x carries its
    own copy of click, so groups and errors are recognised by what they do, not by class.
    """
    if not args:
        return f"{prog}: no subcommand given"
    if "--help" in args:  # would print help and exit: never what a container should run
        return f"{prog}: --help in a container command"
    try:
        ctx = cli.make_context(prog, list(args), resilient_parsing=False)
        command = cli
        while hasattr(command, "resolve_command"):  # a group: descend into the subcommand
            rest = [*ctx._protected_args, *ctx.args]
            if not rest:
                return f"{ctx.command_path}: no subcommand given"
            name, sub, sub_args = command.resolve_command(ctx, rest)
            if sub is None or name is None:
                return f"{ctx.command_path}: unknown command {rest[0]!r}"
            ctx = sub.make_context(name, sub_args, parent=ctx, resilient_parsing=False)
            command = sub
        return None
    except Exception as err:
        if type(err).__name__ == "Exit":
            code = getattr(err, "exit_code", "?")
            return f"exits while parsing (code {code}), e.g. --help or an eager option"
        if hasattr(err, "format_message"):  # click's and Typer's usage errors
            return str(err.format_message()) or type(err).__name__
        raise


def load_driftloop_cli() -> Any:
    """The driftloop CLI as a click-style command (from the Typer app ``driftloop.cli.app:app``)."""
    import typer

    from driftloop.cli.app import app  # type: ignore[import-not-found,unused-ignore]

    return typer.main.get_command(app)


def load_mlflow_cli() -> Any:
    """MLflow's click CLI (``mlflow server ...`` runs in the tracking-server image)."""
    from mlflow.cli import cli

    return cli


CLI_LOADERS: dict[str, Callable[[], Any]] = {
    "driftloop": load_driftloop_cli,
    "mlflow": load_mlflow_cli,
}
"""Programs whose command lines are checked, and how to load each one's CLI."""


@dataclass(frozen=True)
class CommandReport:
    """What checking the container commands found."""

    checked: tuple[ContainerCommand, ...]
    """Commands parsed by their CLI without error."""
    problems: tuple[str, ...]
    """Commands that did not parse, and CLIs that could not be loaded."""
    unchecked: tuple[ContainerCommand, ...]
    """Commands of programs with no CLI to check against (shell, MinIO, MLServer, ...)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def check_commands(
    commands: Sequence[ContainerCommand],
    loaders: Mapping[str, Callable[[], Any]] = CLI_LOADERS,
) -> CommandReport:
    """Parse each command with its program's CLI; report what fails, once per broken CLI."""
    checked: list[ContainerCommand] = []
    unchecked: list[ContainerCommand] = []
    problems: list[str] = []
    clis: dict[str, Any] = {}
    waiting: dict[str, list[ContainerCommand]] = {}
    for cmd in commands:
        if image_basename(cmd.image) == DRIFTLOOP_IMAGE and cmd.argv[:1] != ("driftloop",):
            problems.append(
                f"{cmd.source}: the driftloop image must run `driftloop`, got {cmd.argv}"
            )
            continue
        program = cmd.argv[0] if cmd.argv else ""
        if program not in loaders:
            unchecked.append(cmd)
            continue
        if program not in clis:
            try:
                clis[program] = loaders[program]()
            except Exception as err:  # any import failure means: cannot check, say why
                clis[program] = None
                problems.append(f"cannot load the {program} CLI: {type(err).__name__}: {err}")
        cli = clis[program]
        if cli is None:
            waiting.setdefault(program, []).append(cmd)
            continue
        error = parse_command_line(cli, program, cmd.argv[1:])
        if error is None:
            checked.append(cmd)
        else:
            problems.append(f"{cmd.source}: `{' '.join(cmd.argv)}`: {error}")
    for program, cmds in waiting.items():
        problems.append(
            f"{len(cmds)} {program} command(s) not checked: "
            + "; ".join(" ".join(c.argv[:2]) for c in cmds)
        )
    return CommandReport(tuple(checked), tuple(problems), tuple(unchecked))
