"""Open Inference Protocol (V2) <-> records, so KServe and MLServer clients can call us.

Accepted inputs, all columnar:

* one tensor per feature, named after it, shape ``[n]`` or ``[n, 1]`` (KServe V2, and the
  MLServer pandas codec: ``parameters.content_type == "pd"``, strings as BYTES);
* one 2-D tensor of shape ``[n, features]`` whose columns are the features in schema order
  (what a client sends for a plain matrix), numbers for numeric features.

Outputs are ``prediction`` (BYTES labels, or FP64 for regression), ``probability`` (FP64,
classification) and ``request_id`` (BYTES), one value per row.

Binary tensor data (what ``tritonclient`` sends by default): when the request has an
``Inference-Header-Content-Length`` header, the body is that many bytes of JSON header, then
the raw data of each input whose ``parameters.binary_data_size`` says how many bytes it takes,
in input order (``binary_tensors``). Outputs are binary when asked for, per output
(``parameters.binary_data: true``) or for all (request ``parameters.binary_data_output``);
the response then has the header too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

import pydantic_core

from driftloop.serve.api_models import V2InferenceRequest, V2Tensor
from driftloop.serve.binary_tensors import decode_tensor, encode_tensor
from driftloop.serve.data_plane import dump_json

HEADER_LENGTH = "Inference-Header-Content-Length"


class InferenceProtocolError(ValueError):
    """A V2 request that cannot be read (HTTP 400 with ``{"error": ...}``)."""


def _flatten(data: list[Any]) -> list[Any]:
    while data and isinstance(data[0], list):
        data = list(chain.from_iterable(data))
    return data


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _column(tensor: V2Tensor) -> list[Any]:
    data = _flatten(tensor.data)
    expected = math.prod(tensor.shape) if tensor.shape else len(data)
    if len(data) != expected:
        raise InferenceProtocolError(
            f"input {tensor.name!r}: shape {tensor.shape} needs {expected} values, got {len(data)}"
        )
    if len(tensor.shape) > 1 and math.prod(tensor.shape[1:]) != 1:
        raise InferenceProtocolError(
            f"input {tensor.name!r}: shape {tensor.shape} is not one column ([n] or [n, 1])"
        )
    return [_decode(v) for v in data]


def request_records(request: V2InferenceRequest, features: Sequence[str]) -> list[dict[str, Any]]:
    """The records a V2 request carries (not yet type-checked)."""
    by_name = {t.name: t for t in request.inputs}
    if len(by_name) != len(request.inputs):
        raise InferenceProtocolError("input names must be unique")
    if len(request.inputs) == 1 and request.inputs[0].name not in features:
        return _matrix_records(request.inputs[0], features)
    missing = [f for f in features if f not in by_name]
    if missing:
        raise InferenceProtocolError(f"missing inputs (one per feature): {', '.join(missing)}")
    columns = {f: _column(by_name[f]) for f in features}
    lengths = {len(c) for c in columns.values()}
    if len(lengths) != 1:
        raise InferenceProtocolError(f"inputs have different lengths: {sorted(lengths)}")
    (n,) = lengths
    if n == 0:
        raise InferenceProtocolError("inputs have no rows")
    return [{f: columns[f][i] for f in features} for i in range(n)]


def _matrix_records(tensor: V2Tensor, features: Sequence[str]) -> list[dict[str, Any]]:
    width = len(features)
    if len(tensor.shape) != 2 or tensor.shape[1] != width:
        raise InferenceProtocolError(
            f"input {tensor.name!r} is not a feature: send one input per feature "
            f"({', '.join(features)}), or one [n, {width}] tensor"
        )
    data = [_decode(v) for v in _flatten(tensor.data)]
    if len(data) != tensor.shape[0] * width or not data:
        raise InferenceProtocolError(
            f"input {tensor.name!r}: shape {tensor.shape} needs {tensor.shape[0] * width} "
            f"values, got {len(data)}"
        )
    return [dict(zip(features, data[i : i + width], strict=True))
            for i in range(0, len(data), width)]  # fmt: skip


def response_outputs(
    request_ids: list[str],
    predictions: list[Any],
    probabilities: list[float | None],
    classification: bool,
    wanted: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """The output tensors, filtered to the requested names."""
    n = len(request_ids)
    str_params = {"content_type": "str"}
    outputs: dict[str, dict[str, Any]] = {
        "prediction": {
            "name": "prediction", "shape": [n], "data": predictions,
            **({"datatype": "BYTES", "parameters": str_params} if classification
               else {"datatype": "FP64"}),
        },
        "request_id": {
            "name": "request_id", "shape": [n], "datatype": "BYTES", "parameters": str_params,
            "data": request_ids,
        },
    }  # fmt: skip
    if classification:
        outputs["probability"] = {
            "name": "probability", "shape": [n], "datatype": "FP64", "data": probabilities,
        }  # fmt: skip
    if not wanted:
        return [outputs[k] for k in ("prediction", "probability", "request_id") if k in outputs]
    unknown = [w for w in wanted if w not in outputs]
    if unknown:
        raise InferenceProtocolError(
            f"unknown outputs {', '.join(unknown)}; available: {', '.join(outputs)}"
        )
    return [outputs[w] for w in wanted]


def read_infer_request(body: bytes, header_length: str | None) -> V2InferenceRequest:
    """The request in a body: all JSON, or (``header_length`` given) a JSON header followed by
    binary tensor data. Raises InferenceProtocolError, or pydantic's ValidationError."""
    if header_length is None:
        return V2InferenceRequest.model_validate_json(body)
    size = _header_size(header_length, len(body))
    try:
        header = pydantic_core.from_json(body[:size])
    except ValueError as exc:
        raise InferenceProtocolError(f"request header: invalid JSON: {exc}") from None
    inputs = header.get("inputs") if isinstance(header, dict) else None
    if isinstance(inputs, list):
        _attach_binary_data([t for t in inputs if isinstance(t, dict)], body[size:])
    return V2InferenceRequest.model_validate(header)


def _header_size(value: str, body_size: int) -> int:
    if not value.strip().isdigit():
        raise InferenceProtocolError(f"{HEADER_LENGTH} must be a byte count, got {value!r}")
    size = int(value)
    if size > body_size:
        raise InferenceProtocolError(
            f"{HEADER_LENGTH} {size} is past the end of the body ({body_size} bytes)"
        )
    return size


def _attach_binary_data(inputs: list[dict[str, Any]], raw: bytes) -> None:
    """Set ``data`` of each input that has ``binary_data_size`` from the bytes after the header."""
    offset = 0
    for tensor in inputs:
        params = tensor.get("parameters")
        if not isinstance(params, dict) or "binary_data_size" not in params:
            continue
        where = f"input {tensor.get('name')!r}"
        size, shape = params["binary_data_size"], tensor.get("shape")
        if type(size) is not int or size < 0:
            raise InferenceProtocolError(f"{where}: binary_data_size must be a byte count")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise InferenceProtocolError(f"{where}: shape must be a list of sizes, got {shape!r}")
        if "data" in tensor:
            raise InferenceProtocolError(f"{where}: has both data and binary_data_size")
        if offset + size > len(raw):
            raise InferenceProtocolError(f"{where}: binary_data_size {size} goes past the end of "
                                         f"the body ({len(raw) - offset} bytes left)")  # fmt: skip
        try:
            data = decode_tensor(str(tensor.get("datatype")), math.prod(shape),
                                 raw[offset : offset + size])  # fmt: skip
        except ValueError as exc:
            raise InferenceProtocolError(f"{where}: {exc}") from None
        tensor["data"] = data
        offset += size
    if offset != len(raw):
        raise InferenceProtocolError(f"{len(raw) - offset} bytes after the header that no input's "
                                     f"binary_data_size accounts for")  # fmt: skip


def binary_outputs(request: V2InferenceRequest, names: Sequence[str]) -> set[str]:
    """The outputs to send as binary data: those asked for so, or all by the request's
    ``binary_data_output`` (an output's own ``binary_data`` wins)."""
    default = (request.parameters or {}).get("binary_data_output") is True
    asked = {o.name: (o.parameters or {}).get("binary_data") for o in request.outputs or []}
    return {n for n in names if (default if asked.get(n) is None else asked[n] is True)}


def encode_infer_response(response: dict[str, Any], binary: set[str]) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when outputs follow it as binary data."""
    chunks, outputs = [], []
    for output in response["outputs"]:
        if output["name"] in binary:
            raw = encode_tensor(output["datatype"], output["data"])
            output = {k: v for k, v in output.items() if k != "data"}
            output["parameters"] = {**output.get("parameters", {}), "binary_data_size": len(raw)}
            chunks.append(raw)
        outputs.append(output)
    header = dump_json({**response, "outputs": outputs})
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def describe_validation_error(errors: Sequence[Any]) -> str:
    """A one-line message naming the input (feature) and row of each problem."""
    parts = []
    for e in errors[:10]:
        loc = [p for p in e["loc"] if p not in ("body",)]
        row = next((p for p in loc if isinstance(p, int)), None)
        name = next((p for p in reversed(loc) if isinstance(p, str)), None)
        where = f"input {name!r}" if name else "request"
        if row is not None:
            where += f" row {row}"
        parts.append(f"{where}: {e['msg']}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(parts) + more
