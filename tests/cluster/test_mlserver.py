"""MLServer serves the champion through its MLflow runtime, as the MLServer manifest says.

MLServer 1.7.1 pins an older FastAPI than driftloop, so it gets its own Python 3.11 venv
(from docker/mlserver/requirements.txt, the file the image installs), cached under
~/.cache/driftloop-venvs (or $CLUSTER_SIM_VENV_CACHE). The model is a driftloop pipeline
logged by driftloop's Tracker (mlflow.sklearn, skops, predict_proba) and registered as
driftloop-model@champion in a SQLite registry; MLServer starts with the model-settings.json
of the rendered manifest, unchanged, on 127.0.0.1, and its V2 predictions must equal the
pipeline's own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from driftloop.config.spec import load_spec
from driftloop.core.candidates import build_pipeline
from driftloop.core.prepare import clean_frame, features_and_target
from driftloop_cluster.render import render_overlay
from driftloop_cluster.sim.venvs import VenvError, image_venv

from ..support.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "docker" / "mlserver" / "requirements.txt"
MODEL_NAME = "driftloop-model"
START_LIMIT_S = 180.0  # a cap on waiting for start-up, not a pass/fail figure

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def mlserver_venv() -> Path:
    """A venv with MLServer and the MLflow runtime, built once per requirements file
    (driftloop_cluster.sim.venvs: the cluster simulation runs MLServer from the same one)."""
    try:
        return image_venv(REQUIREMENTS)
    except VenvError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def manifest_model_settings() -> dict[str, dict[str, Any]]:
    """settings.json and model-settings.json from the rendered MLServer ConfigMap."""
    objects = render_overlay(ROOT / "deploy" / "overlays" / "dev", ROOT / "deploy")
    (config,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "mlserver-models"
    ]
    return {name: json.loads(text) for name, text in config["data"].items()}


def _telco_frames() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    raw = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    frame, _ = clean_frame(raw, spec)
    # JSON has no NaN: serve rows without missing values.
    frame = frame.dropna(subset=list(spec.features)).reset_index(drop=True)
    x_train, y_train = features_and_target(frame.iloc[:1500], spec)
    x_serve, _ = features_and_target(frame.iloc[1500:1560], spec)
    return x_train, y_train, x_serve


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, pd.DataFrame]:
    """A LightGBM pipeline registered as driftloop-model@champion in a SQLite registry."""
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    candidate = next(c for c in spec.candidates if c.kind == "lightgbm")
    x_train, y_train, x_serve = _telco_frames()
    pipeline = build_pipeline(spec, candidate).fit(x_train, y_train)

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = _client(uri)
    client.create_experiment("mlserver", artifact_location=(root / "art").as_uri())
    version = _register(uri, pipeline, x_serve)
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    return uri, pipeline, x_serve


def _client(uri: str) -> Any:
    import mlflow

    return mlflow.MlflowClient(uri, uri)


def _register(uri: str, pipeline: Any, x_serve: pd.DataFrame) -> str:
    """Log a pipeline as driftloop's training does (skops, predict_proba) in the "mlserver"
    experiment of the SQLite registry at ``uri`` and register it; the new version's number."""
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings

    root = Path(uri.removeprefix("sqlite:///")).parent
    settings = Settings(state_dir=root, mlflow_tracking_uri=uri, experiment_name="mlserver")
    tracker = Tracker(settings, ObjectStore.from_settings(settings))
    with tracker.run("mlserver") as run_id:
        model_uri = tracker.log_pipeline(pipeline, x_serve, classification=True)
    return tracker.register(model_uri, run_id, tags={}).version


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlserver_url(
    mlserver_venv: Path,
    manifest_model_settings: dict[str, dict[str, Any]],
    champion: tuple[str, Any, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """MLServer on 127.0.0.1 with the manifest's settings; yields its base URL."""
    tracking_uri, _, _ = champion
    models = tmp_path_factory.mktemp("models")
    ports = {"http_port": _free_port(), "grpc_port": _free_port(), "metrics_port": _free_port()}
    # settings.json as in the manifest, plus where to listen here; model-settings.json as is.
    server_settings = {**manifest_model_settings["settings.json"], "host": "127.0.0.1", **ports}
    (models / "settings.json").write_text(json.dumps(server_settings))
    (models / MODEL_NAME).mkdir()
    (models / MODEL_NAME / "model-settings.json").write_text(
        json.dumps(manifest_model_settings["model-settings.json"])
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLSERVER_"))},
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "OMP_NUM_THREADS": "1",
    }
    log = (models / "mlserver.log").open("w")
    proc = subprocess.Popen(
        [str(mlserver_venv / "bin" / "mlserver"), "start", str(models)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{ports['http_port']}"
    try:
        deadline = time.monotonic() + START_LIMIT_S
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/v2/models/{MODEL_NAME}/ready", timeout=2).status_code == 200:
                    ready = True
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        if not ready:
            log.flush()
            tail = (models / "mlserver.log").read_text()[-3000:]
            pytest.fail(f"MLServer did not become ready (exit {proc.poll()}):\n{tail}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _v2_request(frame: pd.DataFrame) -> dict[str, Any]:
    inputs = []
    for column in frame.columns:
        values = frame[column]
        numeric = pd.api.types.is_numeric_dtype(values)
        inputs.append(
            {
                "name": column,
                "shape": [len(frame)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": values.astype(float if numeric else str).tolist(),
            }
        )
    return {"inputs": inputs}


def _served(url: str, frame: pd.DataFrame) -> np.ndarray:
    response = httpx.post(
        f"{url}/v2/models/{MODEL_NAME}/infer", json=_v2_request(frame), timeout=60
    )
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    return np.asarray(output["data"], dtype=float).reshape(output["shape"])


def test_manifest_model_settings_name_the_champion(
    manifest_model_settings: dict[str, dict[str, Any]],
) -> None:
    model = manifest_model_settings["model-settings.json"]
    assert model["implementation"] == "mlserver_mlflow.MLflowRuntime"
    assert model["parameters"]["uri"] == f"models:/{MODEL_NAME}@champion"
    assert manifest_model_settings["settings.json"]["parallel_workers"] == 0


def test_v2_predictions_equal_the_pipeline(
    mlserver_url: str, champion: tuple[str, Any, pd.DataFrame]
) -> None:
    _, pipeline, x_serve = champion
    served = _served(mlserver_url, x_serve)
    expected = pipeline.predict_proba(x_serve)
    assert served.shape == expected.shape == (len(x_serve), 2)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-9)


def test_model_metadata_comes_from_the_signature(mlserver_url: str) -> None:
    metadata = httpx.get(f"{mlserver_url}/v2/models/{MODEL_NAME}", timeout=10).json()
    names = {i["name"] for i in metadata["inputs"]}
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    assert names == set(spec.features)


def test_driftloop_reload_makes_mlserver_answer_the_promoted_version(
    mlserver_url: str, champion: tuple[str, Any, pd.DataFrame]
) -> None:
    """Promote v2, run `driftloop reload --mlserver-url` as the workflow's reload step does:
    MLServer answers v2's pipeline; an unreachable API or MLServer is named (exit 1) and
    does not keep the reachable one from reloading. v1 is champion again afterwards."""
    uri, v1_pipeline, x_serve = champion
    spec = load_spec(ROOT / "configs" / "telco.yaml")
    candidate = next(c for c in spec.candidates if c.kind == "lightgbm")
    x_train, y_train, _ = _telco_frames()
    v2_pipeline = build_pipeline(spec, candidate).fit(x_train.iloc[:600], y_train[:600])
    v1_answers, v2_answers = v1_pipeline.predict_proba(x_serve), v2_pipeline.predict_proba(x_serve)
    assert np.abs(v1_answers - v2_answers).max() > 1e-3  # the versions are told apart
    client = _client(uri)
    v1 = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    client.set_registered_model_alias(MODEL_NAME, "champion", _register(uri, v2_pipeline, x_serve))
    env = {"DRIFTLOOP_MODEL_NAME": MODEL_NAME}
    try:
        np.testing.assert_allclose(_served(mlserver_url, x_serve), v1_answers, atol=1e-9)
        done = run_cli(["reload", "--url", "", "--mlserver-url", mlserver_url], env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert f"MLServer reloaded {MODEL_NAME} at {mlserver_url}" in done.stdout
        np.testing.assert_allclose(_served(mlserver_url, x_serve), v2_answers, atol=1e-9)

        api, other = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
        args = ["reload", "--url", api, "--mlserver-url", mlserver_url, "--mlserver-url", other]
        failed = run_cli(args, env, timeout=300)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        error = " ".join(failed.stderr.split())
        assert "2 of 3 reloads failed" in error
        assert f"cannot reach {api}/admin/reload" in error
        assert f"cannot reach {other}/v2/repository/models/{MODEL_NAME}/load" in error
        assert f"MLServer reloaded {MODEL_NAME} at {mlserver_url}" in failed.stdout
        np.testing.assert_allclose(_served(mlserver_url, x_serve), v2_answers, atol=1e-9)
    finally:
        client.set_registered_model_alias(MODEL_NAME, "champion", v1)
        httpx.post(f"{mlserver_url}/v2/repository/models/{MODEL_NAME}/load", timeout=300)
