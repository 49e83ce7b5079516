"""Every container command parses with the CLI it runs.

``CONTRACT`` is the driftloop CLI as the deployment was designed against (the issue's
contract), as a Typer app with the same commands and options: the manifests must parse
against it, and the parser must catch what is wrong. The last test parses them with the
real ``driftloop.cli.app:app``: it fails, naming each command, while the CLI lacks one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from driftloop_cluster.commands import (
    ContainerCommand,
    check_commands,
    container_commands,
    image_basename,
    parse_command_line,
    substitute_parameters,
)

CONTRACT = typer.Typer()
Str = Annotated[str | None, typer.Option()]


@CONTRACT.command()
def prepare(spec: Str = None, source: Str = None) -> None: ...


@CONTRACT.command()
def train(spec: Str = None, dataset_version: Str = None) -> None: ...


@CONTRACT.command()
def evaluate(alias: Str = None, version: Annotated[int | None, typer.Option()] = None,
             output: Str = None) -> None: ...  # fmt: skip


@CONTRACT.command()
def serve(host: Str = None, port: Annotated[int | None, typer.Option()] = None,
          workers: Annotated[int | None, typer.Option()] = None) -> None: ...  # fmt: skip


@CONTRACT.command()
def detect(window_rows: Annotated[int | None, typer.Option()] = None,
           current_data_path: Str = None, reference_data_path: Str = None,
           emit: bool = False, output: Str = None) -> None: ...  # fmt: skip


@CONTRACT.command()
def retrain(data_dir: Annotated[str, typer.Option()], model_dir: Annotated[str, typer.Option()],
            reference_data_path: Annotated[str, typer.Option()],
            current_data_path: Annotated[str, typer.Option()], event_id: Str = None,
            no_promote: bool = False) -> None: ...  # fmt: skip


@CONTRACT.command()
def promote(model_dir: Annotated[str, typer.Option()]) -> None: ...


@CONTRACT.command()
def reload(url: Str = None,
           mlserver_url: Annotated[list[str] | None, typer.Option()] = None,
           ) -> None: ...  # fmt: skip


@CONTRACT.command()
def status(url: Str = None) -> None: ...


@CONTRACT.command()
def compact() -> None: ...


event = typer.Typer()
CONTRACT.add_typer(event, name="event")


@event.command("send")
def event_send(drift_score: Annotated[float | None, typer.Option()] = None,
               url: Str = None) -> None: ...  # fmt: skip


@event.command("verify")
def event_verify(event: Annotated[str, typer.Option()], signature: Str = None) -> None: ...


def contract_cli() -> Any:
    return typer.main.get_command(CONTRACT)


@pytest.fixture(scope="module")
def commands(rendered: dict[str, list[dict[str, Any]]]) -> list[ContainerCommand]:
    return [c for objs in rendered.values() for c in container_commands(objs)]


def test_every_driftloop_command_follows_the_contract(commands: list[ContainerCommand]) -> None:
    report = check_commands(commands, {"driftloop": contract_cli})
    assert report.ok, "\n".join(report.problems)
    ran = {c.argv[1] for c in report.checked}
    assert ran == {
        "event",
        "serve",
        "prepare",
        "train",
        "detect",
        "retrain",
        "evaluate",
        "promote",
        "reload",
        "compact",
    }


def test_workflow_commands_get_the_template_defaults(commands: list[ContainerCommand]) -> None:
    retrain = next(c for c in commands if c.argv[:2] == ("driftloop", "retrain"))
    argv = list(retrain.argv)
    assert argv[argv.index("--data-dir") + 1] == "s3://driftloop"
    assert argv[argv.index("--reference-data-path") + 1] == ""
    assert not any("{{" in a for a in argv)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["serve", "--prot", "8000"], "--prot"),
        (["serve", "--port", "eight"], "--port"),
        (["retrain", "--data-dir", "s3://x"], "--model-dir"),
        (["retrian"], "retrian"),
        (["event", "send", "--drift-score", "high"], "--drift-score"),
        ([], "no subcommand"),
        (["--help"], "--help"),
    ],
)
def test_parse_errors_are_reported(args: list[str], error: str) -> None:
    message = parse_command_line(contract_cli(), "driftloop", args)
    assert message is not None and error in message


def test_good_command_lines_parse() -> None:
    cli = contract_cli()
    assert parse_command_line(cli, "driftloop", ["event", "send", "--drift-score", "0.5"]) is None
    assert parse_command_line(cli, "driftloop", ["detect", "--emit"]) is None


def test_driftloop_image_must_run_driftloop() -> None:
    wrong = ContainerCommand("Job/x/y container c", "ghcr.io/a/driftloop:1", ("python", "-m", "x"))
    report = check_commands([wrong], {"driftloop": contract_cli})
    assert not report.ok and "must run `driftloop`" in report.problems[0]


def test_an_unloadable_cli_is_one_clear_problem() -> None:
    def broken() -> Any:
        raise ModuleNotFoundError("No module named 'driftloop.cli.app'")

    cmds = [
        ContainerCommand(f"Deployment/ns/app container {i}", "driftloop:1", ("driftloop", "serve"))
        for i in range(3)
    ]
    report = check_commands(cmds, {"driftloop": broken})
    assert len(report.problems) == 2
    assert "cannot load the driftloop CLI" in report.problems[0]
    assert "3 driftloop command(s) not checked" in report.problems[1]


def test_other_programs_are_listed_not_parsed(commands: list[ContainerCommand]) -> None:
    report = check_commands(commands, {"driftloop": contract_cli})
    programs = {c.argv[0] if c.argv else image_basename(c.image) for c in report.unchecked}
    assert {"mlserver", "/bin/sh", "mlflow"} <= programs


def test_image_basename_and_substitution() -> None:
    assert image_basename("ghcr.io/example/driftloop:0.1.0") == "driftloop"
    assert image_basename("localhost:5001/driftloop@sha256:abc") == "driftloop"
    assert image_basename("driftloop-mlserver:dev") == "driftloop-mlserver"
    text = "--x {{workflow.parameters.a}} {{ workflow.parameters.b }} {{workflow.parameters.c}}"
    assert substitute_parameters(text, {"a": "1", "b": ""}) == ("--x 1  {{workflow.parameters.c}}")


def test_commands_parse_with_the_real_driftloop_cli(commands: list[ContainerCommand]) -> None:
    report = check_commands([c for c in commands if c.argv[:1] == ("driftloop",)])
    assert report.ok, "driftloop.cli.app does not accept:\n" + "\n".join(report.problems)


def test_dockerfile_entrypoint_matches_the_image_rule() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "docker/driftloop/Dockerfile").read_text()
    assert 'ENTRYPOINT ["driftloop"]' in dockerfile
