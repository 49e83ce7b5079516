"""The running service against the MLflow-loaded champion: predictions, 422s, docs, V2,
admin, feedback, simulated drift and metrics. One real uvicorn process for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ..support.metrics import metric
from ..support.processes import ServerProcess, wait_until
from ..support.state import MODEL_NAME, TrainedState, auth, sample_records, serve_env

pytestmark = pytest.mark.e2e
MAX_BATCH = 50


@pytest.fixture(scope="module")
def server(
    module_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    env = serve_env(module_state, max_batch=MAX_BATCH, log_flush_interval_s=0.3,
                    reload_interval_s=0)  # fmt: skip
    proc = ServerProcess(env, tmp_path_factory.mktemp("predict") / "server.log").start()
    yield proc
    assert proc.stop(), proc.log()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Any]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def pipeline(module_state: TrainedState) -> Any:
    """The champion as MLflow loads it (no driftloop code involved), from where the
    registry says its files are."""
    import mlflow

    client = mlflow.MlflowClient(module_state.tracking_uri, module_state.tracking_uri)
    version = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    return mlflow.sklearn.load_model(client.get_model_version_download_uri(MODEL_NAME, version))


@pytest.fixture(scope="module")
def schema(module_state: TrainedState) -> dict[str, Any]:
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore

    return open_dataset(ObjectStore(module_state.store_url)).schema()


def expected(pipeline: Any, records: list[dict[str, Any]], schema: dict[str, Any]) -> Any:
    """Probabilities and labels of the MLflow-loaded pipeline on the same records."""
    frame = pd.DataFrame.from_records(records)
    for f in schema["features"]:
        if f["kind"] == "numeric":
            frame[f["name"]] = frame[f["name"]].astype("float64")
    proba = pipeline.predict_proba(frame)[:, 1]
    classes = schema["target"]["classes"]
    labels = [classes[int(i)] for i in pipeline.predict(frame)]
    return proba, labels


def test_predictions_equal_the_mlflow_loaded_pipeline(client, pipeline, schema, module_state):
    records, _ = sample_records(module_state, 120)
    proba, labels = expected(pipeline, records, schema)
    version = client.get("/model").json()["version"]

    singles = [client.post("/predict", json=r) for r in records[:30]]
    assert all(r.status_code == 200 for r in singles), singles[0].text
    got = [r.json() for r in singles]
    np.testing.assert_allclose([g["probability"] for g in got], proba[:30], rtol=0, atol=1e-6)
    assert [g["prediction"] for g in got] == labels[:30]
    assert {g["model_version"] for g in got} == {version}
    ids = [g["request_id"] for g in got]
    assert len(set(ids)) == 30 and all(len(i) == 32 and i[12] == "4" for i in ids)  # uuid4 hex

    batch: list[dict[str, Any]] = []
    for start in range(0, len(records), MAX_BATCH):
        r = client.post("/predict/batch", json={"records": records[start : start + MAX_BATCH]})
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == version
        batch += r.json()["predictions"]
    np.testing.assert_allclose([b["probability"] for b in batch], proba, rtol=0, atol=1e-6)
    assert [b["prediction"] for b in batch] == labels


def test_missing_values_and_unseen_categories_are_predicted_and_counted(
    client, pipeline, schema, module_state
):
    records, _ = sample_records(module_state, 3)
    records[0]["tenure"] = None
    records[0]["contract"] = None
    records[1]["contract"] = "Carrier pigeon"  # a category the model never saw
    records[2] = {k: None for k in records[2]}
    before = metric(client.get("/metrics").text, "driftloop_unseen_categories_total",
                    feature="contract")  # fmt: skip
    got = [client.post("/predict", json=r) for r in records]
    assert [r.status_code for r in got] == [200, 200, 200], got[0].text
    proba, labels = expected(pipeline, records, schema)
    np.testing.assert_allclose([r.json()["probability"] for r in got], proba, atol=1e-6)
    assert [r.json()["prediction"] for r in got] == labels
    after = metric(client.get("/metrics").text, "driftloop_unseen_categories_total",
                   feature="contract")  # fmt: skip
    assert after == before + 1


@pytest.mark.parametrize(
    ("change", "loc", "error_type"),
    [
        (lambda r: r.pop("tenure"), ["body", "tenure"], "missing"),
        (lambda r: r.update(tenure="12"), ["body", "tenure"], "float_type"),
        (lambda r: r.update(monthly_charges=True), ["body", "monthly_charges"], "float_type"),
        (lambda r: r.update(contract=12), ["body", "contract"], "string_type"),
        (lambda r: r.update(payment_method=["x"]), ["body", "payment_method"], "string_type"),
    ],
)
def test_bad_record_is_a_422_naming_the_field(client, module_state, change, loc, error_type):
    (record,), _ = sample_records(module_state, 1)
    change(record)
    r = client.post("/predict", json=record)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [d["loc"] for d in detail] == [loc]
    assert detail[0]["type"] == error_type


def test_bad_batches_are_422s(client, module_state):
    records, _ = sample_records(module_state, MAX_BATCH + 1)
    too_many = client.post("/predict/batch", json={"records": records})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "records"]
    assert client.post("/predict/batch", json={"records": []}).status_code == 422
    bad = [dict(r) for r in records[:5]]
    bad[3]["tenure"] = "long"
    r = client.post("/predict/batch", json={"records": bad})
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "records", 3, "tenure"]]
    garbage = client.post("/predict", content=b"{not json",
                          headers={"content-type": "application/json"})  # fmt: skip
    assert garbage.status_code == 422
    assert garbage.json()["detail"][0]["type"] == "json_invalid"


def test_model_and_health(client, module_state):
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    model = client.get("/model").json()
    from driftloop.adapters.datasets import latest_version
    from driftloop.adapters.store import ObjectStore

    assert model["name"] == MODEL_NAME and model["alias"] == "champion"
    assert model["version"] == ready.json()["model_version"] == model["champion_version"]
    assert model["dataset_version"] == latest_version(ObjectStore(module_state.store_url))
    assert model["fast_path"] == "compiled", model["fast_path_reason"]
    assert model["verification"]["ok"] and model["verification"]["max_abs_diff"] <= 1e-6
    assert model["verification"]["rows"] > 500
    assert 0.8 < model["metrics"]["test_roc_auc"] < 1
    assert model["loaded_at"] and model["last_reload_error"] is None
    assert model["classes"] == ["No", "Yes"]


def test_docs_show_the_generated_fields(client, schema):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    request = spec["components"]["schemas"]["PredictRequest"]
    names = [f["name"] for f in schema["features"]]
    assert list(request["properties"]) == names
    assert sorted(request["required"]) == sorted(names)  # required, but nullable
    tenure = request["properties"]["tenure"]
    assert {"type": "number"} in tenure["anyOf"] and {"type": "null"} in tenure["anyOf"]
    contract = request["properties"]["contract"]
    assert {"type": "string"} in contract["anyOf"]
    assert "Month-to-month" in contract["description"]
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/PredictRequest"
    batch = spec["components"]["schemas"]["PredictBatchRequest"]["properties"]["records"]
    assert batch["maxItems"] == MAX_BATCH
    assert "/v2/models/{name}/infer" in spec["paths"]


def columns_of(records: list[dict[str, Any]], schema: dict[str, Any], pandas_codec: bool):
    inputs = []
    for f in schema["features"]:
        values = [r[f["name"]] for r in records]
        numeric = f["kind"] == "numeric"
        tensor: dict[str, Any] = {
            "name": f["name"], "datatype": "FP64" if numeric else "BYTES", "data": values,
            "shape": [len(values), 1] if pandas_codec else [len(values)],
        }  # fmt: skip
        if pandas_codec and not numeric:
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("form", ["named_tensors", "pandas_codec", "matrix"])
def test_v2_infer_equals_the_pipeline(client, pipeline, schema, module_state, form):
    records, _ = sample_records(module_state, 12)
    if form == "matrix":
        names = [f["name"] for f in schema["features"]]
        inputs = [{"name": "input-0", "datatype": "BYTES", "shape": [len(records), len(names)],
                   "data": [[r[n] for n in names] for r in records]}]  # fmt: skip
        body: dict[str, Any] = {"inputs": inputs}
    else:
        body = {"id": "req-1", "inputs": columns_of(records, schema, form == "pandas_codec")}
        if form == "pandas_codec":
            body["parameters"] = {"content_type": "pd"}
    r = client.post(f"/v2/models/{MODEL_NAME}/infer", json=body)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    proba, labels = expected(pipeline, records, schema)
    np.testing.assert_allclose(out["probability"]["data"], proba, atol=1e-6)
    assert out["prediction"]["data"] == labels and out["prediction"]["datatype"] == "BYTES"
    assert len(set(out["request_id"]["data"])) == len(records)
    assert r.json()["model_name"] == MODEL_NAME


def test_v2_metadata_health_and_errors(client, schema, module_state):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    meta = client.get(f"/v2/models/{MODEL_NAME}").json()
    assert [i["name"] for i in meta["inputs"]] == [
        f["name"] for f in schema["features"] if f["kind"] == "numeric"
    ] + [f["name"] for f in schema["features"] if f["kind"] == "categorical"]
    assert {o["name"] for o in meta["outputs"]} == {"prediction", "probability", "request_id"}
    assert client.get("/v2/models/nope").status_code == 404
    records, _ = sample_records(module_state, 2)
    inputs = columns_of(records, schema, pandas_codec=False)
    missing = client.post(f"/v2/models/{MODEL_NAME}/infer", json={"inputs": inputs[1:]})
    assert missing.status_code == 400 and "tenure" in missing.json()["error"]
    inputs[0]["data"] = ["ten", 3]
    mistyped = client.post(f"/v2/models/{MODEL_NAME}/infer", json={"inputs": inputs})
    assert mistyped.status_code == 400
    assert "'tenure' row 0" in mistyped.json()["error"]
    # NaN in a numeric tensor is a missing value (the protocol's convention); infinity is not
    inputs[0]["data"] = ["@nan@", "@inf@"]
    text = json.dumps({"inputs": inputs}).replace('"@nan@"', "NaN").replace('"@inf@"', "Infinity")
    infinite = client.post(f"/v2/models/{MODEL_NAME}/infer", content=text,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert infinite.status_code == 400, infinite.text
    assert "'tenure' row 1" in infinite.json()["error"] and "finite" in infinite.json()["error"]
    inputs[0]["data"] = ["@nan@", 3]
    text = json.dumps({"inputs": inputs}).replace('"@nan@"', "NaN")
    missing_value = client.post(f"/v2/models/{MODEL_NAME}/infer", content=text,
                                headers={"content-type": "application/json"})  # fmt: skip
    assert missing_value.status_code == 200, missing_value.text
    wrong_version = client.post(f"/v2/models/{MODEL_NAME}/versions/999/infer",
                                json={"inputs": inputs})  # fmt: skip
    assert wrong_version.status_code == 404


def test_admin_reload_needs_the_token(client):
    assert client.post("/admin/reload").status_code == 401
    wrong = client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    ok = client.post("/admin/reload", headers=auth())
    assert ok.status_code == 200 and ok.json()["changed"] is False
    assert client.post("/feedback", json={"labels": []}).status_code == 401
    assert client.post("/simulate-drift", json={"drift_type": "none"}).status_code == 401


def test_feedback_is_stored_by_request_id(client, module_state):
    from driftloop.adapters.production_data import read_feedback
    from driftloop.adapters.store import ObjectStore

    records, _ = sample_records(module_state, 3)
    ids = [client.post("/predict", json=r).json()["request_id"] for r in records]
    labels = [
        {"request_id": i, "label": lab} for i, lab in zip(ids, ["Yes", "No", "No"], strict=True)
    ]
    r = client.post("/feedback", json={"labels": labels}, headers=auth())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3 and not r.json()["spooled"]
    assert r.json()["key"].startswith("feedback/") and r.json()["key"].endswith(".parquet")
    stored = read_feedback(ObjectStore(module_state.store_url))
    got = stored[stored["request_id"].isin(ids)].set_index("request_id")["label"].to_dict()
    assert got == {i: lab for i, lab in zip(ids, ["Yes", "No", "No"], strict=True)}
    assert str(stored["ts"].dtype) == "datetime64[us, UTC]"
    bad = client.post("/feedback", headers=auth(),
                      json={"labels": [{"request_id": ids[0], "label": "Maybe"}]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "labels", 0, "label"]


@pytest.mark.parametrize(
    "drift_type", ["none", "numerical_shift", "categorical_shift", "missing_values",
                   "new_category"],
)  # fmt: skip
def test_simulate_drift_goes_through_the_predict_path(client, module_state, drift_type):
    from driftloop.adapters.production_data import read_feedback, read_inference_log
    from driftloop.adapters.store import ObjectStore

    store = ObjectStore(module_state.store_url)
    before = metric(client.get("/metrics").text, "driftloop_unseen_categories_total",
                    feature="contract")  # fmt: skip
    r = client.post("/simulate-drift", headers=auth(),
                    json={"drift_type": drift_type, "n": 60, "seed": 7})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sent"] == body["feedback"] == 60 == len(set(body["request_ids"]))
    assert sum(body["predictions"].values()) == 60
    ids = set(body["request_ids"])

    def logged() -> pd.DataFrame | None:
        log = read_inference_log(store)
        rows = log[log["request_id"].isin(ids)]
        return rows if len(rows) == 60 else None

    rows = wait_until(logged, timeout=60)
    assert set(rows["source"]) == {"simulate"}
    feedback = read_feedback(store)
    assert ids <= set(feedback["request_id"])
    assert set(feedback[feedback["request_id"].isin(ids)]["label"]) <= {"Yes", "No"}
    after = metric(client.get("/metrics").text, "driftloop_unseen_categories_total",
                   feature="contract")  # fmt: skip
    if drift_type == "numerical_shift":
        assert rows["monthly_charges"].mean() > 80  # raw telco mean is ~65
    if drift_type == "missing_values":
        assert rows["tenure"].isna().mean() > 0.1
    if drift_type == "new_category":
        assert (rows["contract"] == "new-contract").any() and after > before
    else:
        assert after == before


def test_metrics_cover_requests_predictions_model_and_log(client, module_state):
    records, _ = sample_records(module_state, 1)
    assert client.post("/predict", json=records[0]).status_code == 200
    client.post("/predict", json={})

    def flushed() -> str | None:
        text = client.get("/metrics").text
        return text if metric(text, "driftloop_inference_log_rows_written_total") else None

    text = wait_until(flushed)
    assert metric(text, "driftloop_http_requests_total", route="/predict", status="200") > 0
    assert metric(text, "driftloop_http_requests_total", route="/predict", status="422") > 0
    assert metric(text, "driftloop_http_request_duration_seconds_count",
                  route="/predict", status="200") > 0  # fmt: skip
    classes = metric(text, "driftloop_predictions_total", prediction="No", source="api")
    assert classes > 0
    version = client.get("/model").json()["version"]
    assert metric(text, "driftloop_model_info", version=version, fast_path="compiled") == 1
    assert metric(text, "driftloop_model_version") == float(version)
    for name in (
        "driftloop_model_reloads_total",
        "driftloop_model_reload_failures_total",
        "driftloop_inference_log_rows_spooled_total",
        "driftloop_inference_log_rows_dropped_total",
    ):
        assert metric(text, name) >= 0  # exported from the start (raises when it is not)
    assert metric(text, "driftloop_inference_log_rows_dropped_total") == 0


def test_store_holds_segments_with_the_documented_layout(client, module_state):
    from driftloop.adapters.store import ObjectStore

    records, _ = sample_records(module_state, 1)
    client.post("/predict", json=records[0])
    store = ObjectStore(module_state.store_url)
    keys = wait_until(lambda: store.list("inference") or None)
    parts = keys[0].split("/")
    assert parts[0] == "inference" and len(parts) == 5 and parts[4].endswith(".parquet")
    assert [len(p) for p in parts[1:4]] == [4, 2, 2]
    import pyarrow.parquet as pq

    table = pq.read_table(Path(module_state.state_dir / "store" / keys[0]))
    types = {f.name: str(f.type) for f in table.schema}
    assert types["request_id"] == "string" and types["ts"] == "timestamp[us, tz=UTC]"
    assert types["model_version"] == "string" and types["source"] == "string"
    assert types["tenure"] == "double" and types["contract"] == "string"
    assert types["prediction"] == "string" and types["probability"] == "double"
    assert json.loads(json.dumps(list(types)))[:4] == ["request_id", "ts", "model_version",
                                                       "source"]  # fmt: skip
