"""Start-up and shutdown: production refuses admin endpoints without a token, and after a
graceful shutdown the inference log holds every request that got a 200."""

from __future__ import annotations

import pytest

from ..support.processes import free_port, run_cli
from ..support.state import MODEL_NAME, TrainedState, sample_records, serve_env

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "need a token"), ("short", "at least 16")],
)
def test_production_refuses_admin_endpoints_without_a_token(module_state, token, message):
    env = {**module_state.env(), "DRIFTLOOP_ENV": "production", "DRIFTLOOP_ADMIN_TOKEN": ""}
    if token is not None:
        env["DRIFTLOOP_ADMIN_TOKEN"] = token
    result = run_cli(["serve", "--port", str(free_port())], env, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "DRIFTLOOP_ADMIN_TOKEN" in result.stderr


def test_inference_log_holds_every_answered_request_after_shutdown(
    server_factory, module_state: TrainedState
):
    from driftloop.adapters.production_data import read_inference_log
    from driftloop.adapters.store import ObjectStore

    # Production without admin endpoints needs no token; nothing flushes before shutdown.
    env = serve_env(module_state, log_flush_interval_s=3600, log_flush_rows=1_000_000,
                    admin_endpoints="false", monitor_every_rows=0)  # fmt: skip
    env.update(DRIFTLOOP_ENV="production", DRIFTLOOP_ADMIN_TOKEN="")
    server = server_factory(env)
    records, _ = sample_records(module_state, 100)
    answered: list[str] = []
    with server.client() as c:
        assert c.post("/admin/reload").status_code == 404  # admin endpoints are off
        for r in records:
            got = c.post("/predict", json=r)
            assert got.status_code == 200
            answered.append(got.json()["request_id"])
        for start in (0, 50):
            got = c.post("/predict/batch", json={"records": records[start : start + 50]})
            answered += [p["request_id"] for p in got.json()["predictions"]]
        names = list(records[0])
        inputs = [{"name": n, "shape": [5], "datatype": "BYTES",
                   "data": [r[n] for r in records[:5]]} for n in names]  # fmt: skip
        v2 = c.post(f"/v2/models/{MODEL_NAME}/infer", json={"inputs": inputs})
        assert v2.status_code == 200, v2.text
        answered += next(o for o in v2.json()["outputs"] if o["name"] == "request_id")["data"]
        store = ObjectStore(module_state.store_url)
        before = read_inference_log(store)
        assert not set(answered) & set(before["request_id"])  # all still in memory
    assert server.stop(), server.log()
    log = read_inference_log(ObjectStore(module_state.store_url))
    mine = log[log["request_id"].isin(answered)]
    assert len(mine) == len(answered) == 205
    assert set(mine["request_id"]) == set(answered)
    assert set(mine["source"]) == {"api"}
    assert "prediction log flushed written_rows=205" in server.log()
