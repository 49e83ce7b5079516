"""Hot reload on a cloned registry: a new champion under load (no failed request), a broken
one (the old keeps serving, /model says why), and an explicit reload (HTTP and CLI)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.metrics import metric
from ..support.processes import ServerProcess, run_cli, wait_until
from ..support.state import (
    TrainedState,
    auth,
    clone_state,
    register_pipeline,
    sample_records,
    serve_env,
    stored_model_dir,
    tracker_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def state(trained_state: TrainedState, tmp_path_factory: pytest.TempPathFactory) -> TrainedState:
    return clone_state(trained_state, tmp_path_factory.mktemp("reload"))


@pytest.fixture(scope="module")
def tracker(state: TrainedState) -> Any:
    return tracker_for(state)


@pytest.fixture(scope="module")
def server(state: TrainedState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = serve_env(state, reload_interval_s=0.5, log_flush_interval_s=0.5)
    proc = ServerProcess(env, tmp_path_factory.mktemp("reload-server") / "server.log").start()
    yield proc
    assert proc.stop(), proc.log()


def fit_lightgbm(tracker: Any, seed: int) -> Any:
    """A small LightGBM candidate on the dataset's train split (a different model kind)."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.config.spec import CandidateConfig, load_spec
    from driftloop.core.candidates import build_pipeline

    spec = load_spec(tracker.settings.spec)
    champion = tracker.resolve("champion")
    train = open_dataset(tracker.store, champion.dataset_version).frame("train")
    candidate = CandidateConfig(
        name="lightgbm", kind="lightgbm",
        params={"n_estimators": 20, "num_leaves": 7, "random_state": seed, "verbose": -1},
    )  # fmt: skip
    pipeline = build_pipeline(spec, candidate)
    return pipeline.fit(train[list(spec.features)], train[spec.target])


def new_version(tracker: Any, seed: int) -> str:
    champion = tracker.resolve("champion")
    return register_pipeline(tracker, fit_lightgbm(tracker, seed), champion.dataset_version,
                             f"lightgbm-{seed}")  # fmt: skip


def local_artifacts(tracker: Any, version: str) -> Path:
    """The version's files where the store keeps them (not a downloaded copy)."""
    return stored_model_dir(tracker, version)


def test_reload_under_load_fails_no_request(server, state, tracker):
    (record,), _ = sample_records(state, 1)
    before = server.client().get("/model").json()["version"]
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    stop = threading.Event()

    def hammer() -> None:
        with server.client() as c:
            while not stop.is_set():
                r = c.post("/predict", json=record)
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    versions[r.json()["model_version"]] += 1

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        version = new_version(tracker, seed=1)
        tracker.set_alias("champion", version)
        with server.client() as c:
            wait_until(lambda: c.get("/model").json()["version"] == version or None, 120)
            seen = sum(versions.values())
            wait_until(lambda: versions[version] > 20 or None, 60)  # keep load after the swap
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert set(statuses) == {200}, statuses
    assert versions[before] > 0 and versions[version] > 0, versions
    assert seen > 0
    model = server.client().get("/model").json()
    assert model["candidate"] == "lightgbm-1" and model["fast_path"] == "compiled"
    assert "lightgbm" in model["fast_path_reason"]
    assert model["last_reload_error"] is None


@pytest.mark.parametrize("damage", ["tamper", "delete"])
def test_broken_version_leaves_the_old_one_serving(server, state, tracker, damage):
    (record,), _ = sample_records(state, 1)
    with server.client() as c:
        serving = c.get("/model").json()["version"]
        broken = new_version(tracker, seed=2)
        files = local_artifacts(tracker, broken)
        target = next(p for p in sorted(files.rglob("*")) if p.suffix == ".skops")
        if damage == "tamper":
            target.write_bytes(target.read_bytes()[:-100] + b"\0" * 100)
        else:
            target.unlink()
        failures_before = metric(c.get("/metrics").text, "driftloop_model_reload_failures_total")
        tracker.set_alias("champion", broken)
        model = wait_until(
            lambda: (m := c.get("/model").json())["last_reload_error"] and m or None, 120
        )
        assert model["version"] == serving
        assert model["last_reload_error"]["version"] == broken
        assert "ModelLoadError" in model["last_reload_error"]["error"]
        answer = c.post("/predict", json=record)
        assert answer.status_code == 200 and answer.json()["model_version"] == serving
        assert metric(c.get("/metrics").text,
                      "driftloop_model_reload_failures_total") > failures_before  # fmt: skip
        explicit = c.post("/admin/reload", headers=auth())
        assert explicit.status_code == 500 and explicit.json()["serving_version"] == serving
        tracker.set_alias("champion", serving)
        wait_until(lambda: c.get("/model").json()["last_reload_error"] is None or None, 60)
    assert "model reload failed; previous model keeps serving" in server.log()


def test_explicit_reload_over_http_and_the_cli(server_factory, state, tracker):
    server = server_factory(serve_env(state, reload_interval_s=0))  # no watcher: only on demand
    with server.client() as c:
        serving = c.get("/model").json()["version"]
        version = new_version(tracker, seed=3)
        tracker.set_alias("champion", version)
        assert c.get("/model").json()["version"] == serving  # nothing watches
        env = {**state.env(), "DRIFTLOOP_ENV": "production"}
        result = run_cli(["reload", "--url", server.base_url], env)
        assert result.returncode == 0, result.stderr
        assert f"v{serving} -> v{version}" in result.stdout
        assert c.get("/model").json()["version"] == version
        again = c.post("/admin/reload", headers=auth()).json()
        assert again["changed"] is False and again["serving_version"] == version
        wrong = run_cli(["reload", "--url", server.base_url],
                        {**env, "DRIFTLOOP_ADMIN_TOKEN": "x" * 24})  # fmt: skip
        assert wrong.returncode == 1 and "403" in wrong.stderr


def test_a_model_the_compiler_does_not_know_is_served_by_its_pipeline(server, state, tracker):
    from sklearn.tree import DecisionTreeClassifier

    from driftloop.adapters.datasets import open_dataset
    from driftloop.serve.loaded_model import load_model

    champion = tracker.resolve("champion")
    pipeline = fit_lightgbm(tracker, seed=4)  # same preprocessing, then a decision tree
    train = open_dataset(tracker.store, champion.dataset_version).frame("train")
    features = list(pipeline.named_steps["preprocess"].feature_names_in_)
    pipeline.steps[-1] = ("model", DecisionTreeClassifier(max_depth=4, random_state=0))
    pipeline.fit(train[features], train["churn"])
    version = register_pipeline(tracker, pipeline, champion.dataset_version, "tree")

    loaded = load_model(tracker, tracker.store, tracker.resolve(version=version), 100)
    assert loaded.fast_path == "pipeline" and loaded.compiled is None
    assert "no compiled path" in loaded.fast_path_reason

    records, frame = sample_records(state, 10)
    expected = pipeline.predict_proba(frame[features])[:, 1]
    with server.client() as c:
        tracker.set_alias("champion", version)
        model = wait_until(lambda: (m := c.get("/model").json())["version"] == version and m
                           or None, 120)  # fmt: skip
        assert model["fast_path"] == "pipeline" and "no compiled path" in model["fast_path_reason"]
        single = [c.post("/predict", json=r).json() for r in records]
        batch = c.post("/predict/batch", json={"records": records}).json()["predictions"]
        tracker.set_alias("champion", champion.version)
    assert [s["model_version"] for s in single] == [version] * 10
    for got in (single, batch):
        assert max(abs(g["probability"] - e) for g, e in zip(got, expected, strict=True)) < 1e-9
