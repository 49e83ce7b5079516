"""Open Inference Protocol requests -> records, and outputs."""

from __future__ import annotations

import pytest

from driftloop.serve.api_models import V2InferenceRequest
from driftloop.serve.open_inference import (
    InferenceProtocolError,
    request_records,
    response_outputs,
)

FEATURES = ("tenure", "contract")


def request(inputs):
    return V2InferenceRequest.model_validate({"inputs": inputs})


def test_one_tensor_per_feature_in_any_order_and_shape():
    req = request([
        {"name": "contract", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]},
        {"name": "tenure", "shape": [2], "datatype": "FP64", "data": [1.0, float("nan")]},
        {"name": "ignored", "shape": [2], "datatype": "FP64", "data": [0, 0]},
    ])  # fmt: skip
    assert request_records(req, FEATURES) == [
        {"tenure": 1.0, "contract": "a"},
        {"tenure": None, "contract": "b"},
    ]


def test_one_matrix_in_feature_order():
    req = request([{"name": "x", "shape": [2, 2], "datatype": "BYTES",
                    "data": [5, "a", 6, None]}])  # fmt: skip
    assert request_records(req, FEATURES) == [
        {"tenure": 5, "contract": "a"},
        {"tenure": 6, "contract": None},
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": [1]}], "contract"),
        ([{"name": "tenure", "shape": [2], "datatype": "FP64", "data": [1]},
          {"name": "contract", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}],
         "needs 2 values"),
        ([{"name": "tenure", "shape": [1], "datatype": "FP64", "data": [1]},
          {"name": "contract", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}],
         "different lengths"),
        ([{"name": "tenure", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]},
          {"name": "contract", "shape": [1], "datatype": "BYTES", "data": ["a"]}],
         "not one column"),
        ([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}],
         "one input per feature"),
    ],
)  # fmt: skip
def test_unreadable_requests_name_the_input(inputs, message):
    with pytest.raises(InferenceProtocolError, match=message):
        request_records(request(inputs), FEATURES)


def test_outputs_follow_the_task_and_the_request():
    outs = response_outputs(["r1"], ["Yes"], [0.9], True, None)
    assert [(o["name"], o["datatype"]) for o in outs] == [
        ("prediction", "BYTES"),
        ("probability", "FP64"),
        ("request_id", "BYTES"),
    ]
    assert response_outputs(["r1"], [2.5], [None], False, ["prediction"])[0]["datatype"] == "FP64"
    with pytest.raises(InferenceProtocolError, match="probability"):
        response_outputs(["r1"], [2.5], [None], False, ["probability"])
