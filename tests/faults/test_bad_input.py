"""What each kind of bad input gets, over HTTP and on the command line (the table in
docs/bad-input.md): a 4xx that names the problem, never a 5xx, never a half-done job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..support.processes import ServerProcess, run_cli
from ..support.state import TrainedState, auth, sample_records

pytestmark = pytest.mark.e2e
JSON = {"Content-Type": "application/json"}
BINARY_HEADER = "Inference-Header-Content-Length"
V2_BINARY = json.dumps({"inputs": [{"name": "tenure", "shape": [1], "datatype": "FP64",
                                    "parameters": {"binary_data_size": 4}}]}).encode()  # fmt: skip


@pytest.fixture(scope="module")
def record(shared_state: TrainedState) -> dict[str, Any]:
    (one,), _ = sample_records(shared_state, 1)
    return one


def raw(record: dict[str, Any], name: str, literal: str) -> bytes:
    """The record as JSON text with one value replaced by a literal (``NaN``, ``1e400``)."""
    return json.dumps({**record, name: "@@"}).replace('"@@"', literal).encode()


def without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


# (name, method, path, body builder, headers, expected status, expected error type or text)
CASES: list[tuple[str, str, str, Any, dict[str, str], int, str]] = [
    ("not JSON", "POST", "/predict", lambda r: b"{not json", JSON, 422, "json_invalid"),
    ("empty body", "POST", "/predict", lambda r: b"", JSON, 422, "json_invalid"),
    ("not UTF-8", "POST", "/predict", lambda r: b"\xa2", JSON, 422,  # the fuzzing: was a 500
     "json_invalid"),
    ("not UTF-8 (batch)", "POST", "/predict/batch", lambda r: b"\xadt\xd1WY", JSON, 422,
     "json_invalid"),
    ("nested too deep", "POST", "/predict", lambda r: b"[" * 5000 + b"]" * 5000, JSON, 422,
     "json_invalid"),
    ("array, not object", "POST", "/predict", lambda r: [r], {}, 422, "model_type"),
    ("missing field", "POST", "/predict", lambda r: without(r, "tenure"), {}, 422, "missing"),
    ("string for a number", "POST", "/predict", lambda r: {**r, "tenure": "12"}, {}, 422,
     "float_type"),
    ("boolean for a number", "POST", "/predict", lambda r: {**r, "tenure": True}, {}, 422,
     "float_type"),
    ("number for a category", "POST", "/predict", lambda r: {**r, "contract": 1}, {}, 422,
     "string_type"),
    ("`NaN` literal (not standard JSON)", "POST", "/predict", lambda r: raw(r, "tenure", "NaN"),
     JSON, 422, "finite_number"),
    ("`Infinity`, or a number too big for a float", "POST", "/predict",
     lambda r: raw(r, "tenure", "1e400"), JSON, 422, "finite_number"),
    ("non-finite number in a batch", "POST", "/predict/batch",
     lambda r: b'{"records": [' + raw(r, "monthly_charges", "-Infinity") + b"]}", JSON, 422,
     "finite_number"),
    ("null: a missing value", "POST", "/predict", lambda r: {**r, "tenure": None}, {}, 200, ""),
    ("unknown category", "POST", "/predict", lambda r: {**r, "contract": "Lifetime"}, {}, 200,
     ""),
    ("extra field ignored", "POST", "/predict", lambda r: {**r, "zzz": 1}, {}, 200, ""),
    ("empty batch", "POST", "/predict/batch", lambda r: {"records": []}, {}, 422, "too_short"),
    ("batch too big", "POST", "/predict/batch", lambda r: {"records": [r] * 1001}, {}, 422,
     "too_long"),
    ("bad record in a batch", "POST", "/predict/batch",
     lambda r: {"records": [r, {**r, "tenure": "x"}]}, {}, 422, "float_type"),
    ("extra key in a batch", "POST", "/predict/batch", lambda r: {"records": [r], "x": 1}, {},
     422, "extra_forbidden"),
    ("V2: not JSON", "POST", "/v2/models/driftloop-model/infer", lambda r: b"xx", JSON, 400,
     "Invalid JSON"),
    ("V2: binary data not matching its size", "POST", "/v2/models/driftloop-model/infer",
     lambda r: V2_BINARY + b"\0" * 4, {**JSON, BINARY_HEADER: str(len(V2_BINARY))}, 400,
     "input 'tenure': binary_data_size is 4 bytes; 1 FP64 elements need 8"),
    ("V2: header length past the body", "POST", "/v2/models/driftloop-model/infer",
     lambda r: V2_BINARY, {BINARY_HEADER: str(len(V2_BINARY) + 1)}, 400,
     "past the end of the body"),
    ("V2: no inputs", "POST", "/v2/models/driftloop-model/infer", lambda r: {"inputs": []}, {},
     400, "inputs"),
    ("V2: unknown model", "POST", "/v2/models/nope/infer", lambda r: {"inputs": []}, {}, 404,
     "not found"),
    ("V2: version not served", "POST", "/v2/models/driftloop-model/versions/99/infer",
     lambda r: {"inputs": []}, {}, 404, "not served"),
    ("label not a class", "POST", "/feedback",
     lambda r: {"labels": [{"request_id": "a", "label": "Maybe"}]}, auth(), 422,
     "label must be one of"),
    ("no labels", "POST", "/feedback", lambda r: {"labels": []}, auth(), 422, "too_short"),
    ("unknown drift type", "POST", "/simulate-drift", lambda r: {"drift_type": "x"}, auth(),
     422, "literal_error"),
    ("n out of range", "POST", "/simulate-drift", lambda r: {"drift_type": "none", "n": 0},
     auth(), 422, "greater_than_equal"),
    ("negative seed", "POST", "/simulate-drift",  # found by the fuzzing: was a 500
     lambda r: {"drift_type": "none", "n": 3, "seed": -1}, auth(), 422, "greater_than_equal"),
    ("no admin token", "POST", "/admin/reload", lambda r: None, {}, 401, "admin token required"),
    ("wrong admin token", "POST", "/admin/reload", lambda r: None,
     {"Authorization": "Bearer not-the-token"}, 403, "does not match"),
    ("unknown path", "GET", "/nope", lambda r: None, {}, 404, "Not Found"),
    ("wrong method", "GET", "/predict", lambda r: None, {}, 405, "Method Not Allowed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "says"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_http_bad_input(
    shared_server: ServerProcess, record: dict[str, Any],
    method: str, path: str, body: Any, headers: dict[str, str], status: int, says: str,
):  # fmt: skip
    payload = body(record)
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(payload, bytes):
        kwargs["content"] = payload
    elif payload is not None:
        kwargs["json"] = payload
    with shared_server.client() as c:
        response = c.request(method, path, **kwargs)
    assert response.status_code == status, response.text[:500]
    assert says in response.text, response.text[:500]
    if status == 422 and path.startswith(("/predict", "/feedback", "/simulate")):
        detail = response.json()["detail"]
        assert detail and all("loc" in d and d["loc"][0] == "body" for d in detail)


def test_a_bad_setting_is_exit_2_with_a_message(shared_state: TrainedState):
    result = run_cli(["evaluate"], {**shared_state.env(), "DRIFTLOOP_SERVER__PORT": "abc"})
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "server.port" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_bad_input_table_is_documented():
    """Every HTTP case above has a row in docs/bad-input.md."""
    from ..support.paths import ROOT

    doc = (ROOT / "docs" / "bad-input.md").read_text()
    for name, *_ in CASES:
        assert f"| {name} |" in doc, name
