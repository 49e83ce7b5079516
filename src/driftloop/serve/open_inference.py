"""Open Inference Protocol (V2) <-> records, so KServe and MLServer clients can call us.

Accepted inputs, all columnar:

* one tensor per feature, named after it, shape ``[n]`` or ``[n, 1]`` (KServe V2, and the
  MLServer pandas codec: ``parameters.content_type == "pd"``, strings as BYTES);
* one 2-D tensor of shape ``[n, features]`` whose columns are the features in schema order
  (what a client sends for a plain matrix), numbers for numeric features.

Outputs are ``prediction`` (BYTES labels, or FP64 for regression), ``probability`` (FP64,
classification) and ``request_id`` (BYTES), one value per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from typing import Any

from driftloop.serve.api_models import V2InferenceRequest, V2Tensor


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
