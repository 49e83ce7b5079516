"""The tracking server owns the artifact store (issue 12, defect 3).

A real ``mlflow server`` runs with the rendered Deployment's artifact flags
(``--serve-artifacts``, ``--artifacts-destination s3://mlflow/artifacts``) against moto's S3
server; it alone holds S3 credentials. ``driftloop train`` (whose data store is S3, as in
the cluster) logs the champion, and a client that knows only the MLflow URL, with no AWS
variables at all, loads it: what MLServer does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import (
    ROOT,
    MotoServer,
    free_port,
    light_spec_data,
    run_cli,
    stop_process,
    wait_for_port,
)
from .conftest import find

pytestmark = pytest.mark.e2e

LOAD_CHAMPION = """
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/driftloop-model@champion")
client = mlflow.MlflowClient()
print("artifact_location=" + client.get_experiment_by_name("driftloop").artifact_location)
print("loaded=" + type(model).__name__)
"""


def _server_argv(deployment: dict[str, Any], db: Path, port: int) -> list[str]:
    """The Deployment's command, with a SQLite backend and a loopback address."""
    argv = list(deployment["spec"]["template"]["spec"]["containers"][0]["command"])
    values = {"--host": "127.0.0.1", "--port": str(port), "--workers": "1",
              "--backend-store-uri": f"sqlite:///{db}"}  # fmt: skip
    for flag, value in values.items():
        argv[argv.index(flag) + 1] = value
    return [str(Path(sys.executable).parent / "mlflow"), *argv[1:]]


def _no_aws(env: dict[str, str], tmp: Path) -> dict[str, str]:
    clean = {k: v for k, v in env.items() if not k.startswith(("AWS_", "MLFLOW_S3", "DRIFTLOOP_"))}
    # No credentials anywhere (and no metadata-service look-up off this machine).
    clean.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(tmp / "none"),
                 AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"))  # fmt: skip
    return clean


def test_a_client_with_only_the_mlflow_url_loads_the_champion(
    rendered: dict[str, list[dict[str, Any]]], moto_server: MotoServer, tmp_path: Path
) -> None:
    deployment = find(rendered["dev"], "Deployment", "mlflow", "mlflow")
    argv = _server_argv(deployment, tmp_path / "mlflow.db", free_port())
    destination = argv[argv.index("--artifacts-destination") + 1]
    bucket = destination.removeprefix("s3://").split("/")[0]
    try:
        moto_server.make_bucket(bucket)
    except Exception as exc:  # the session's moto may have it from another test
        assert "BucketAlreadyOwnedByYou" in type(exc).__name__ + str(exc)
    port = int(argv[argv.index("--port") + 1])
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **_no_aws(dict(os.environ), tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": moto_server.endpoint,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = (tmp_path / "mlflow-server.log").open("wb")
    proc = subprocess.Popen(argv, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=400, proc=proc)
        urllib.request.urlopen(f"{url}/health", timeout=30).read()
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(light_spec_data()))
        data_bucket = "driftloop-artifacts-test"
        moto_server.make_bucket(data_bucket)
        job_env = {
            **moto_server.env(data_bucket),  # the jobs' data store is S3, as in the cluster
            "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
            "DRIFTLOOP_SPEC": str(spec),
            "DRIFTLOOP_MLFLOW_TRACKING_URI": url,
        }
        for command in (["prepare"], ["train"]):
            result = run_cli(command, job_env)
            assert result.returncode == 0, result.stdout + result.stderr
        client_env = {**_no_aws(dict(os.environ), tmp_path), "MLFLOW_TRACKING_URI": url}
        loaded = subprocess.run(
            [sys.executable, "-c", LOAD_CHAMPION],
            env=client_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert loaded.returncode == 0, loaded.stderr[-3000:]
        assert "artifact_location=mlflow-artifacts:" in loaded.stdout
        assert "loaded=PyFuncModel" in loaded.stdout
    finally:
        stop_process(proc)
        log.close()
