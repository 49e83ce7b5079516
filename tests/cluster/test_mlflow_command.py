"""The tracking server's `mlflow server ...` command parses with MLflow's own CLI.

Separate from test_commands.py because importing mlflow.cli takes ~10 s here.
"""

from __future__ import annotations

from typing import Any

import pytest

from driftloop_cluster.commands import check_commands, container_commands, load_mlflow_cli

from .conftest import find

pytestmark = pytest.mark.e2e  # importing mlflow.cli: over 5 s


def test_tracking_server_command_parses(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = find(rendered["dev"], "Deployment", "mlflow", "mlflow")
    (command,) = container_commands([deployment])
    report = check_commands([command], {"mlflow": load_mlflow_cli})
    assert report.ok, report.problems
    assert [c.argv[:2] for c in report.checked] == [("mlflow", "server")]

    wrong = command.__class__(command.source, command.image, (*command.argv, "--artefacts-only"))
    report = check_commands([wrong], {"mlflow": load_mlflow_cli})
    assert not report.ok and "--artefacts-only" in report.problems[0]
