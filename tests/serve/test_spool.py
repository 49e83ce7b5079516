"""The object store goes away mid-traffic (the moto S3 server is stopped) and comes back
on the same port: predictions never fail, segments spool to disk, then reach the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.metrics import metric
from ..support.processes import MotoServer, wait_until
from ..support.state import TrainedState, copy_datasets, sample_records, serve_env

pytestmark = pytest.mark.e2e
BUCKET = "spool-test"


def logged_ids(moto: MotoServer) -> set[str]:
    from driftloop.adapters.production_data import read_inference_log

    return set(read_inference_log(moto.store(BUCKET))["request_id"])


def spooled(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "spool").rglob("*.parquet"))


def test_segments_spool_while_the_store_is_down_and_upload_when_it_returns(
    server_factory, trained_state: TrainedState, tmp_path: Path
):
    moto = MotoServer(tmp_path)
    moto.start()
    try:
        moto.make_bucket(BUCKET)
        copy_datasets(trained_state, moto.store(BUCKET))
        state_dir = tmp_path / "server-state"
        env = {
            **serve_env(trained_state, log_flush_interval_s=0.3, reload_interval_s=0),
            **moto.env(BUCKET),
            "DRIFTLOOP_STATE_DIR": str(state_dir),
            "DRIFTLOOP_MLFLOW_TRACKING_URI": trained_state.tracking_uri,
        }
        server = server_factory(env)
        records, _ = sample_records(trained_state, 60)
        with server.client() as c:
            first = [c.post("/predict", json=r).json()["request_id"] for r in records[:20]]
            wait_until(lambda: set(first) <= logged_ids(moto) or None, 60)

            moto.stop()  # the store is gone (moto keeps everything in memory)
            while_down = []
            for r in records[20:]:
                answer = c.post("/predict", json=r)
                assert answer.status_code == 200
                while_down.append(answer.json()["request_id"])
            wait_until(lambda: spooled(state_dir) or None, 60)

            def spooled_rows() -> str | None:
                text = c.get("/metrics").text
                done = metric(text, "driftloop_inference_log_rows_spooled_total") >= 40
                return text if done else None

            text = wait_until(spooled_rows, 60)
            assert metric(text, "driftloop_inference_log_rows_dropped_total") == 0

            moto.start()  # back on the same port, empty
            moto.make_bucket(BUCKET)
            wait_until(lambda: not spooled(state_dir) or None, 120)
            assert set(while_down) <= logged_ids(moto)
            text = c.get("/metrics").text
            assert metric(text, "driftloop_inference_log_rows_written_total") >= 60
            assert metric(text, "driftloop_inference_log_spooled_segments") == 0
        assert server.stop(), server.log()
        assert "spooling segment" in server.log()
        assert "uploaded spooled segments" in server.log()
    finally:
        moto.stop()
