"""Damaged model artifacts: a tampered or truncated version is refused everywhere.

On a cloned registry, two versions are registered (their sha256 recorded), then one has
bytes of its serialized model flipped and the other has that file cut short. Pointing
``champion`` at either and reloading the running server fails with the old model still
serving; ``driftloop evaluate --version N`` refuses them with a message that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..support.metrics import metric
from ..support.processes import ServerProcess, run_cli
from ..support.state import (
    TrainedState,
    auth,
    register_pipeline,
    sample_records,
    stored_model_dir,
    tracker_for,
)

pytestmark = pytest.mark.e2e


def model_file(tracker: Any, version: str) -> Path:
    """The serialized model of a version, where the store keeps it (not a download)."""
    return next(p for p in sorted(stored_model_dir(tracker, version).rglob("*.skops")))


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))  # same size, different bytes


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {"tampered": tamper, "truncated": truncate}


RELOAD_FAILURES = "driftloop_model_reload_failures_total"


def test_damaged_artifacts_are_refused_and_the_old_model_keeps_serving(
    shared_state: TrainedState, shared_server: ServerProcess
):
    state, server = shared_state, shared_server
    tracker = tracker_for(state)
    good = tracker.resolve("champion")
    pipeline = tracker.load_pipeline(good.version)
    broken: dict[str, str] = {}
    for name, damage in DAMAGE.items():
        version = register_pipeline(tracker, pipeline, str(good.dataset_version), name)
        damage(model_file(tracker, version))
        broken[name] = version

    (record,), _ = sample_records(state, 1)
    with server.client() as c:
        assert c.get("/model").json()["version"] == good.version
        failures_before = metric(c.get("/metrics").text, RELOAD_FAILURES)
        for name, version in broken.items():
            tracker.set_alias("champion", version)
            reload = c.post("/admin/reload", headers=auth())
            assert reload.status_code == 500, (name, reload.text)
            outcome = reload.json()
            assert outcome["champion_version"] == version
            assert outcome["serving_version"] == good.version and outcome["changed"] is False
            assert "changed since registration" in outcome["error"], outcome
            answer = c.post("/predict", json=record)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"] == good.version
            status = c.get("/model").json()
            assert status["version"] == good.version
            assert status["last_reload_error"]["version"] == version
        assert metric(c.get("/metrics").text, RELOAD_FAILURES) == failures_before + 2
        tracker.set_alias("champion", good.version)
        back = c.post("/admin/reload", headers=auth())
        assert back.status_code == 200 and back.json()["serving_version"] == good.version
        assert c.get("/model").json()["last_reload_error"] is None

    # The CLI costs seconds to start: one damaged version is enough to show its refusal.
    version = broken["tampered"]
    result = run_cli(["evaluate", "--version", version], state.env())
    assert result.returncode == 1, (result.stdout, result.stderr)
    message = " ".join(result.stderr.split())
    assert f"v{version} artifacts changed since registration" in message, message
    assert "refusing to load" in message and "Traceback" not in result.stderr
    assert tracker.resolve("champion").version == good.version
