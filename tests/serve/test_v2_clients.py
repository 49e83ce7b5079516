"""Real Open Inference Protocol clients against a real `driftloop serve`: tritonclient.http
with its defaults (binary tensor data both ways) and with JSON, and the KServe SDK's REST
client, JSON and binary. Every answer equals what /predict/batch says for the same rows."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from ..support.processes import ServerProcess
from ..support.state import MODEL_NAME, TrainedState, module_server, sample_records

pytestmark = pytest.mark.e2e
ROWS = 16


server = module_server("v2-clients", reload_interval_s=0, monitor_every_rows=0)


@pytest.fixture(scope="module")
def rows(server: ServerProcess, trained_state: TrainedState) -> dict[str, Any]:
    """Test rows as columns (numpy, as a client holds them) and /predict/batch's answers."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore

    records, _ = sample_records(trained_state, ROWS)
    schema = open_dataset(ObjectStore(trained_state.store_url)).schema()
    columns: dict[str, tuple[str, np.ndarray]] = {}
    for f in schema["features"]:
        values = [r[f["name"]] for r in records]
        if f["kind"] == "numeric":
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            columns[f["name"]] = ("FP64", array.reshape(-1, 1))
        else:
            assert None not in values, "a BYTES tensor cannot carry a missing category"
            columns[f["name"]] = ("BYTES", np.array(values, dtype=object).reshape(-1, 1))
    with server.client() as c:
        r = c.post("/predict/batch", json={"records": records})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    return {
        "columns": columns,
        "probability": [p["probability"] for p in predictions],
        "prediction": [p["prediction"] for p in predictions],
    }


def triton_inputs(columns: dict[str, tuple[str, np.ndarray]], binary: bool) -> list[Any]:
    from tritonclient.http import InferInput

    inputs = []
    for name, (datatype, array) in columns.items():
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def assert_answers(rows: dict[str, Any], probability: Any, prediction: Any) -> None:
    np.testing.assert_allclose(np.asarray(probability, dtype=float).ravel(), rows["probability"],
                               rtol=0, atol=1e-9)  # fmt: skip
    labels = [p.decode() if isinstance(p, bytes) else p for p in np.asarray(prediction).ravel()]
    assert labels == rows["prediction"]


def test_tritonclient_defaults_send_and_get_binary_tensors(server, rows):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    assert client.is_server_ready() and client.is_model_ready(MODEL_NAME)
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    result = client.infer(MODEL_NAME, triton_inputs(rows["columns"], binary=True))
    outputs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert all("binary_data_size" in o["parameters"] and "data" not in o for o in outputs.values())
    assert_answers(rows, result.as_numpy("probability"), result.as_numpy("prediction"))
    assert len(set(result.as_numpy("request_id").tolist())) == ROWS
    client.close()


def test_tritonclient_json_tensors(server, rows):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    wanted = [triton.InferRequestedOutput(n, binary_data=False)
              for n in ("probability", "prediction")]  # fmt: skip
    result = client.infer(MODEL_NAME, triton_inputs(rows["columns"], binary=False),
                          outputs=wanted)  # fmt: skip
    assert [o["name"] for o in result.get_response()["outputs"]] == ["probability", "prediction"]
    assert "data" in result.get_response()["outputs"][0]
    assert_answers(rows, result.as_numpy("probability"), result.as_numpy("prediction"))
    client.close()


def test_tritonclient_bad_binary_data_is_a_400_naming_the_input(server, rows):
    from tritonclient.http import InferInput

    columns = dict(rows["columns"])
    tensor = InferInput("tenure", [ROWS, 1], "FP64")
    tensor.set_data_from_numpy(columns.pop("tenure")[1])
    header = {"inputs": [{**tensor._get_tensor(), "parameters": {"binary_data_size": 8 * ROWS
                                                                  - 8}}]}  # fmt: skip
    body = json.dumps(header).encode()
    with server.client() as c:
        short = c.post(f"/v2/models/{MODEL_NAME}/infer", content=body + tensor._get_binary_data(),
                       headers={"Inference-Header-Content-Length": str(len(body))})  # fmt: skip
        assert short.status_code == 400, short.text
        assert short.json()["error"].startswith("input 'tenure': binary_data_size is ")
        past = c.post(f"/v2/models/{MODEL_NAME}/infer", content=body,
                      headers={"Inference-Header-Content-Length": str(len(body) + 1)})  # fmt: skip
        assert past.status_code == 400 and "past the end of the body" in past.json()["error"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_rest_client(server, rows, binary):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
    from kserve.protocol.infer_type import RequestedOutput

    inputs = []
    for name, (datatype, array) in rows["columns"].items():
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    outputs = [RequestedOutput(n, parameters={"binary_data": binary})
               for n in ("prediction", "probability")]  # fmt: skip
    request = InferRequest(MODEL_NAME, inputs, request_outputs=outputs)

    async def call() -> Any:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=1, timeout=30))
        headers: dict[str, str] = {}
        try:
            response = await client.infer(server.base_url, request, model_name=MODEL_NAME,
                                          response_headers=headers)  # fmt: skip
        finally:
            await client.close()
        return response, headers

    response, headers = asyncio.run(call())
    assert ("inference-header-content-length" in headers) is binary
    out = {o.name: o for o in response.outputs}
    assert_answers(rows, out["probability"].as_numpy(), out["prediction"].as_numpy())
