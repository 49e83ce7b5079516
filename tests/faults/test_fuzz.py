"""Fuzz the running service with schemathesis 4 (its CLI), from its own OpenAPI schema.

Every operation the schema lists, the admin ones included (the admin token is sent), goes
through the four phases, examples, coverage (boundary and invalid values of each field),
fuzzing (generated requests, valid and invalid by the schema) and stateful (sequences
following the links schemathesis infers between responses and parameters), against a real
uvicorn server: none may get a 5xx. Path parameters are fixed to the served model and
version, and labels and input names are drawn mostly from the model's own, so the requests
reach the handlers instead of stopping at a 404 or a 422. The run is bounded (at most
``MAX_EXAMPLES`` test cases per operation and phase, one worker, a fixed seed): about a
minute on two cores. To fuzz harder by hand: ``schemathesis run URL/openapi.json -H
"Authorization: Bearer …" --checks not_a_server_error -n 500``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..support.metrics import metric
from ..support.processes import ServerProcess, wait_until
from ..support.state import ADMIN_TOKEN, MODEL_NAME, TrainedState

pytestmark = pytest.mark.e2e
MAX_EXAMPLES = 25
SEED = 20261201
PHASES = ("examples", "coverage", "fuzzing", "stateful")
ADMIN_ROUTES = ("/admin/reload", "/feedback", "/simulate-drift")


def fuzz_config(features: list[str], classes: list[str], version: str) -> str:
    """schemathesis.toml: fixed path parameters, and dictionaries for labels and inputs."""
    return "\n".join([
        "[dictionaries.labels]", f"values = {json.dumps(classes)}",
        "[dictionaries.features]", f"values = {json.dumps(features)}",
        "[parameters]",
        f'"path.name" = "{MODEL_NAME}"', f'"path.version" = "{version}"',
        '"body.labels[*].label" = { dictionary = "labels", probability = 0.8 }',
        '"body.inputs[*].name" = { dictionary = "features", probability = 0.8 }',
    ]) + "\n"  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_run(
    shared_server: ServerProcess, shared_state: TrainedState,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:  # fmt: skip
    """One schemathesis run against the shared server: its exit code, output and JSON report."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore

    schema = open_dataset(ObjectStore(shared_state.store_url)).schema()
    with shared_server.client() as c:
        version = c.get("/model").json()["version"]
    work = tmp_path_factory.mktemp("fuzz")  # schemathesis' .hypothesis and caches go here
    config = work / "schemathesis.toml"
    config.write_text(fuzz_config([f["name"] for f in schema["features"]],
                                  schema["target"]["classes"], version))  # fmt: skip
    report = work / "report.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
        "run", f"{shared_server.base_url}/openapi.json",
        "-H", f"Authorization: Bearer {ADMIN_TOKEN}",
        "--checks", "not_a_server_error", "--phases", ",".join(PHASES),
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--request-timeout", "30", "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600)
    return {
        "returncode": done.returncode,
        "output": done.stdout[-6000:] + done.stderr[-2000:],
        "report": json.loads(report.read_text()) if report.exists() else None,
    }


def test_no_generated_request_gets_a_server_error(fuzz_run: dict[str, Any]) -> None:
    report = fuzz_run["report"]
    assert report is not None, fuzz_run["output"]
    assert fuzz_run["returncode"] == 0 and report["exit_code"] == 0, fuzz_run["output"]
    assert report["failures"] == [] and report["errors"] == [], fuzz_run["output"]
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"] >= 20, operations
    assert {p: report["phases"][p]["status"] for p in PHASES} == dict.fromkeys(PHASES, "success")
    assert report["test_cases"]["generated"] > 20 * MAX_EXAMPLES


def labelled(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter over the samples with these labels."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_admin_operations_were_fuzzed_past_the_token_check(
    fuzz_run: dict[str, Any], shared_server: ServerProcess
) -> None:
    """Each admin route answered 200 to some generated request: the token was sent, and the
    generated bodies reached the handlers (a 401 or 403 everywhere would fuzz nothing)."""
    with shared_server.client() as c:
        text = c.get("/metrics").text
    for route in ADMIN_ROUTES:
        ok = labelled(text, "driftloop_http_requests_total", route=route, status="200")
        assert ok > 0, (route, re.findall(rf".*route=\"{route}\".*", text))
    assert labelled(text, "driftloop_http_requests_total", route="/v2/models/{name}/infer",
                    status="400") > 0  # fmt: skip


def test_after_the_fuzzing_the_server_serves_and_logged_every_row(
    fuzz_run: dict[str, Any], shared_server: ServerProcess
) -> None:
    """Whatever the generated values were, none broke the inference log."""
    with shared_server.client() as c:
        assert c.get("/health/ready").status_code == 200
        text = wait_until(
            lambda: (
                (t := c.get("/metrics").text)
                and metric(t, "driftloop_inference_log_buffered_rows") == 0
                and t
            ),
            30,
        )
        assert metric(text, "driftloop_inference_log_rows_written_total") > 0
        assert metric(text, "driftloop_inference_log_rows_dropped_total") == 0
    log = Path(shared_server.log_path).read_text(errors="replace")
    assert "cannot build log segment" not in log
