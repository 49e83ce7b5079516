"""/simulate-drift's concept, gradual and prior types through a real `driftloop serve`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from ..support.processes import ServerProcess, wait_until
from ..support.state import TrainedState, auth, module_server

pytestmark = pytest.mark.e2e

server = module_server("simulate-types", log_flush_interval_s=0.3)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Any]:
    with server.client() as c:
        yield c


def send(client: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/simulate-drift", headers=auth(), json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def stored_rows(state: TrainedState, ids: list[str]) -> pd.DataFrame:
    """The logged rows of these requests joined with their stored labels, in request order."""
    from driftloop.adapters.production_data import read_feedback, read_inference_log
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(state.store_url)

    def ready() -> pd.DataFrame | None:
        log = read_inference_log(store)
        rows = log[log["request_id"].isin(ids)]
        return rows if len(rows) == len(ids) else None

    rows = wait_until(ready, timeout=60)
    labels = read_feedback(store).set_index("request_id")["label"]
    out = rows.set_index("request_id").loc[ids].reset_index()
    out["label"] = labels.reindex(out["request_id"]).to_numpy()
    return out


def test_concept_sends_the_same_features_with_changed_labels(client, module_state):
    plain = send(client, drift_type="none", n=400, seed=11)
    concept = send(client, drift_type="concept", n=400, seed=11)
    assert concept["sent"] == concept["feedback"] == 400
    before = stored_rows(module_state, plain["request_ids"])
    after = stored_rows(module_state, concept["request_ids"])
    features = ["tenure", "monthly_charges", "contract", "internet_service"]
    pd.testing.assert_frame_equal(before[features], after[features])
    # the model saw the same rows, so it predicted the same: only the labels moved
    assert before["prediction"].tolist() == after["prediction"].tolist()
    changed = (before["label"] != after["label"]).mean()
    assert 0.2 < changed < 0.5  # 70% of the half above the driver's median
    assert (after["label"] == "Yes").mean() > (before["label"] == "Yes").mean() + 0.1


def test_gradual_grows_over_calls_on_one_server(client, module_state):
    calls = [send(client, drift_type="gradual", n=200, seed=5, restart=True)]
    calls += [send(client, drift_type="gradual", n=200, seed=5) for _ in range(3)]
    assert [c["step"] for c in calls] == [1, 2, 3, 4]
    assert [c["intensity"] for c in calls] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    means = [stored_rows(module_state, c["request_ids"])["monthly_charges"].mean()
             for c in calls]  # fmt: skip
    assert means == sorted(means) and means[-1] > means[0] + 5
    again = send(client, drift_type="gradual", n=10, seed=5, restart=True)
    assert again["step"] == 1


def test_prior_moves_the_share_of_positive_labels(client, module_state):
    body = send(client, drift_type="prior", n=500, seed=3)
    rows = stored_rows(module_state, body["request_ids"])
    assert (rows["label"] == "Yes").mean() == pytest.approx(0.6, abs=0.01)  # telco: ~0.27
    assert body["predictions"].get("Yes", 0) > 150  # the model sees more churners too
