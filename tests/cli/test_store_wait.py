"""prepare waits for an object store that is not up yet (issue 12, defect 5): on a fresh
cluster the training Job starts before MinIO and its bucket Job are done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftloop.adapters.store import ObjectStore, StoreUnavailableError
from driftloop.config.settings import Settings

from ..conftest import ROOT, TELCO_SPEC, MotoServer, run_cli, stop_process

pytestmark = pytest.mark.e2e


def test_prepare_waits_for_a_store_that_starts_late(tmp_path: Path) -> None:
    late = MotoServer(tmp_path)  # its port is chosen; nothing listens there yet
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLOOP_", "AWS_"))},
        **late.env("late-bucket"),
        "DRIFTLOOP_STATE_DIR": str(tmp_path / "state"),
        "DRIFTLOOP_SPEC": str(TELCO_SPEC),
        "DRIFTLOOP_S3__WAIT_S": "240",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    out = (tmp_path / "prepare.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftloop", "prepare"], env=env, cwd=ROOT, stdout=out, stderr=out
    )
    log = tmp_path / "prepare.log"
    try:
        # Start the server only once prepare has found the store down (not just slow to start).
        deadline = time.monotonic() + 300
        while "waiting for the object store" not in log.read_text():
            assert proc.poll() is None, f"prepare exited {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        late.start()
        time.sleep(2)
        late.make_bucket("late-bucket")  # what the minio-buckets Job does, later still
        assert proc.wait(timeout=400) == 0, log.read_text()
        store = ObjectStore.from_settings(_settings(env))
        assert store.exists("datasets/latest.json") or store.list("datasets")
    finally:
        stop_process(proc)
        late.stop()
        out.close()


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        store_url=env["DRIFTLOOP_STORE_URL"],
        s3={
            "endpoint_url": env["DRIFTLOOP_S3__ENDPOINT_URL"],
            "access_key_id": env["DRIFTLOOP_S3__ACCESS_KEY_ID"],
            "secret_access_key": env["DRIFTLOOP_S3__SECRET_ACCESS_KEY"],
        },
    )


def test_the_wait_is_bounded(tmp_path: Path) -> None:
    never = MotoServer(tmp_path)
    env = {**never.env("none"), "DRIFTLOOP_STATE_DIR": str(tmp_path / "s"),
           "DRIFTLOOP_SPEC": str(TELCO_SPEC), "DRIFTLOOP_S3__WAIT_S": "4"}  # fmt: skip
    started = time.monotonic()
    result = run_cli(["prepare"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "still not writable after 4 s" in result.stderr
    assert time.monotonic() - started < 120


def test_back_off_between_tries(tmp_path: Path) -> None:
    """The schedule, on a store that never answers (a port nothing listens on)."""
    store = ObjectStore.from_settings(_settings({**MotoServer(tmp_path).env("b")}))
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    with pytest.raises(StoreUnavailableError, match="still not writable after 60 s"):
        store.wait_until_writable(60, sleep=sleep, clock=lambda: now[0])
    assert waits == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]  # the last try at 60 s
