"""Open Inference Protocol requests -> records, and outputs; JSON and binary tensor data."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from driftloop.serve.api_models import V2InferenceRequest
from driftloop.serve.open_inference import (
    InferenceProtocolError,
    binary_outputs,
    encode_infer_response,
    read_infer_request,
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


# -- binary tensor data (Inference-Header-Content-Length) ------------------------------------
def binary_body(inputs, raw_parts, **extra):
    """A JSON header and the raw data after it, as tritonclient lays them out."""
    header = json.dumps({"inputs": inputs, **extra}).encode()
    return header + b"".join(raw_parts), str(len(header))


def length_prefixed(*texts):
    return b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)


def binary_input(name, datatype, shape, raw):
    return {"name": name, "datatype": datatype, "shape": shape,
            "parameters": {"binary_data_size": len(raw)}}  # fmt: skip


@pytest.mark.parametrize(
    ("datatype", "raw", "values"),
    [
        ("FP64", np.array([1.5, np.nan], "<f8").tobytes(), [1.5, None]),
        ("FP32", np.array([1.5, 2.0], "<f4").tobytes(), [1.5, 2.0]),
        ("FP16", np.array([1.5, 2.0], "<f2").tobytes(), [1.5, 2.0]),
        ("INT32", np.array([7, -3], "<i4").tobytes(), [7, -3]),
        ("INT64", np.array([7, -3], "<i8").tobytes(), [7, -3]),
        ("UINT8", bytes([7, 3]), [7, 3]),
        ("BOOL", bytes([1, 0]), [True, False]),
    ],
)  # fmt: skip
def test_binary_inputs_read_as_the_json_values(datatype, raw, values):
    contract = length_prefixed("Two year", "")
    inputs = [binary_input("tenure", datatype, [2, 1], raw),
              binary_input("contract", "BYTES", [2, 1], contract)]  # fmt: skip
    body, length = binary_body(inputs, [raw, contract])
    assert request_records(read_infer_request(body, length), FEATURES) == [
        {"tenure": values[0], "contract": "Two year"},
        {"tenure": values[1], "contract": ""},
    ]


def test_binary_and_json_inputs_mix_and_plain_json_still_reads():
    contract = length_prefixed("a")
    inputs = [{"name": "tenure", "datatype": "FP64", "shape": [1], "data": [3.0]},
              binary_input("contract", "BYTES", [1], contract)]  # fmt: skip
    body, length = binary_body(inputs, [contract])
    assert request_records(read_infer_request(body, length), FEATURES) == [
        {"tenure": 3.0, "contract": "a"}
    ]
    inputs[1] = {"name": "contract", "datatype": "BYTES", "shape": [1], "data": ["a"]}
    plain = json.dumps({"inputs": inputs}).encode()
    assert request_records(read_infer_request(plain, None), FEATURES) == [
        {"tenure": 3.0, "contract": "a"}
    ]


def bad_size(inputs, parts):
    inputs[0]["parameters"]["binary_data_size"] += 8
    return binary_body(inputs, parts)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        # 3 FP64 values' bytes for a shape of 2
        (lambda: binary_body([binary_input("tenure", "FP64", [2], b"x" * 24)], [b"x" * 24]),
         "input 'tenure': binary_data_size is 24 bytes; 2 FP64 elements need 16"),
        # binary_data_size past the end of the body
        (lambda: bad_size([binary_input("tenure", "FP64", [1], b"x" * 8)], [b"x" * 8]),
         "input 'tenure': binary_data_size 16 goes past the end of the body"),
        (lambda: binary_body([binary_input("contract", "BYTES", [2], length_prefixed("a"))],
                             [length_prefixed("a")]),
         "input 'contract': its shape needs 2 elements, the binary data holds 1"),
        (lambda: binary_body([binary_input("contract", "BYTES", [1], b"\x09\0\0\0ab")],
                             [b"\x09\0\0\0ab"]),
         "input 'contract': BYTES element 0 says 9 bytes, 2 are left"),
        (lambda: binary_body([binary_input("contract", "BYTES", [1], b"\5\0\0\0\xff\xfe\0\0\0")],
                             [b"\5\0\0\0\xff\xfe\0\0\0"]),
         "input 'contract': a BYTES element is not UTF-8"),
        (lambda: binary_body([binary_input("tenure", "BF16", [1], b"xx")], [b"xx"]),
         "input 'tenure': datatype 'BF16' cannot be read"),
        (lambda: binary_body([binary_input("tenure", "FP64", [-1], b"")], []),
         "input 'tenure': shape must be a list of sizes"),
        (lambda: binary_body([{**binary_input("tenure", "FP64", [1], b"x" * 8), "data": [1]}],
                             [b"x" * 8]),
         "input 'tenure': has both data and binary_data_size"),
        (lambda: binary_body([binary_input("tenure", "FP64", [1], b"x" * 8)], [b"x" * 9]),
         "1 bytes after the header that no input's binary_data_size accounts for"),
        (lambda: (b"{}", "3"), "Inference-Header-Content-Length 3 is past the end of the body"),
        (lambda: (b"{}", "two"), "Inference-Header-Content-Length must be a byte count"),
        (lambda: (b"{x}", "3"), "request header: invalid JSON"),
    ],
)  # fmt: skip
def test_bad_binary_data_names_the_input(build, message):
    body, length = build()
    with pytest.raises(InferenceProtocolError) as info:
        read_infer_request(body, length)
    assert message in str(info.value)


def test_outputs_are_binary_when_asked_per_output_or_for_all():
    def req(**body):
        return V2InferenceRequest.model_validate({"inputs": [{"name": "x", "shape": [1],
                                                              "datatype": "FP64", "data": [1]}],
                                                  **body})  # fmt: skip

    names = ["prediction", "probability", "request_id"]
    assert binary_outputs(req(), names) == set()
    assert binary_outputs(req(parameters={"binary_data_output": True}), names) == set(names)
    asked = req(parameters={"binary_data_output": True},
                outputs=[{"name": "prediction", "parameters": {"binary_data": False}},
                         {"name": "probability"}])  # fmt: skip
    assert binary_outputs(asked, names) == {"probability", "request_id"}
    one = req(outputs=[{"name": "probability", "parameters": {"binary_data": True}}])
    assert binary_outputs(one, names) == {"probability"}


def test_binary_response_reads_back_with_tritonclient():
    from tritonclient.http import InferResult

    outputs = response_outputs(["r1", "r2"], ["Yes", "No"], [0.9, 0.25], True, None)
    response = {"model_name": "m", "id": "1", "outputs": outputs}
    body, length = encode_infer_response(response, {"prediction", "probability"})
    assert length is not None and json.loads(body[:length])["outputs"][0]["parameters"] == {
        "content_type": "str", "binary_data_size": 2 * 4 + 3 + 2,
    }  # fmt: skip
    result = InferResult.from_response_body(body, header_length=length)
    assert result.as_numpy("prediction").tolist() == [b"Yes", b"No"]
    assert result.as_numpy("probability").tolist() == [0.9, 0.25]
    assert result.as_numpy("request_id").tolist() == ["r1", "r2"]  # JSON, as not asked
    plain, none = encode_infer_response(response, set())
    assert none is None and json.loads(plain)["outputs"][1]["data"] == [0.9, 0.25]
