"""Open Inference Protocol (V2): health, metadata and infer, for KServe and MLServer clients.

Errors follow the protocol: HTTP 400 (bad request) or 404 (unknown model) with
``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

import driftloop
from driftloop.serve.api_models import (
    ErrorResponse,
    V2InferenceResponse,
    V2ModelMetadata,
    V2ServerMetadata,
)
from driftloop.serve.data_plane import (
    BatchSizeError,
    InvalidRecordsError,
    dump_json,
    new_request_id,
)
from driftloop.serve.deps import DataPlaneDep, HolderDep
from driftloop.serve.loaded_model import LoadedModel
from driftloop.serve.model_holder import ModelHolder
from driftloop.serve.open_inference import (
    HEADER_LENGTH,
    InferenceProtocolError,
    binary_outputs,
    describe_validation_error,
    encode_infer_response,
    read_infer_request,
    request_records,
    response_outputs,
)

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request cannot be read."},
    404: {"model": ErrorResponse, "description": "No such model (or version)."},
}


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dump_json(obj), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


def _model(holder: ModelHolder, name: str, version: str | None = None) -> LoadedModel | Response:
    if name != holder.tracker.model_name:
        return _error(f"model {name!r} not found; this server serves "
                      f"{holder.tracker.model_name!r}", 404)  # fmt: skip
    model = holder.current
    if model is None:
        return _error(f"model {name!r} is not loaded yet", 503)
    if version is not None and version != model.version:
        return _error(f"model {name!r} version {version!r} is not served "
                      f"(serving {model.version})", 404)  # fmt: skip
    return model


@router.get("", response_model=V2ServerMetadata, summary="Server metadata")
async def read_server_metadata() -> dict[str, Any]:
    """Name, version and protocol extensions."""
    return {"name": "driftloop", "version": driftloop.__version__,
            "extensions": ["binary_tensor_data"]}  # fmt: skip


@router.get("/health/live", summary="Server live")
async def read_server_live() -> dict[str, bool]:
    """200 while the process runs."""
    return {"live": True}


@router.get("/health/ready", summary="Server ready", responses={503: {"model": ErrorResponse}})
async def read_server_ready(holder: HolderDep) -> Response:
    """200 once a model is loaded, 503 before."""
    ready = holder.current is not None
    return _json({"ready": ready}, 200 if ready else 503)


@router.get("/models/{name}/ready", summary="Model ready", responses=_ERRORS)
async def read_model_ready(name: str, holder: HolderDep) -> Response:
    """200 when the named model is loaded."""
    found = _model(holder, name)
    if isinstance(found, Response):
        return found
    return _json({"name": name, "ready": True})


@router.get("/models/{name}", response_model=V2ModelMetadata, summary="Model metadata",
            responses=_ERRORS)  # fmt: skip
async def read_model_metadata(name: str, holder: HolderDep) -> Response:
    """Inputs (one per feature: FP64 numbers or BYTES strings) and outputs."""
    found = _model(holder, name)
    if isinstance(found, Response):
        return found
    model = found
    inputs = [
        {"name": f, "datatype": "FP64", "shape": [-1, 1]} for f in model.numeric
    ] + [
        {"name": f, "datatype": "BYTES", "shape": [-1, 1], "parameters": {"content_type": "str"}}
        for f in model.categorical
    ]  # fmt: skip
    outputs = [{"name": "prediction", "shape": [-1],
                "datatype": "BYTES" if model.classes else "FP64"}]  # fmt: skip
    if model.classes:
        outputs.append({"name": "probability", "shape": [-1], "datatype": "FP64"})
    outputs.append({"name": "request_id", "shape": [-1], "datatype": "BYTES"})
    return _json({
        "name": name, "versions": [model.version], "platform": "driftloop-sklearn",
        "inputs": inputs, "outputs": outputs,
        "parameters": {"content_type": "pd", "dataset_version": model.info.dataset_version},
    })  # fmt: skip


async def _infer(
    name: str, version: str | None, request: Request, inference: DataPlaneDep
) -> Response:
    found = _model(inference.holder, name, version)
    if isinstance(found, Response):
        return found
    model = found
    try:
        payload = read_infer_request(await request.body(), request.headers.get(HEADER_LENGTH))
    except InferenceProtocolError as exc:
        return _error(str(exc), 400)
    except ValidationError as exc:
        return _error(describe_validation_error(exc.errors(include_url=False)), 400)
    wanted = [o.name for o in payload.outputs] if payload.outputs else None
    available = {"prediction", "request_id"} | ({"probability"} if model.classes else set())
    if wanted and set(wanted) - available:
        unknown = ", ".join(sorted(set(wanted) - available))
        return _error(f"unknown outputs {unknown}; available: {', '.join(sorted(available))}", 400)
    try:
        records = inference.records_from_python(model, request_records(payload, model.features))
    except (InferenceProtocolError, BatchSizeError) as exc:
        return _error(str(exc), 400)
    except InvalidRecordsError as exc:
        return _error(describe_validation_error(exc.errors), 400)
    result = await inference.predict(model, records)
    outputs = response_outputs(
        result.request_ids,
        result.predictions,
        result.probabilities,
        model.classes is not None,
        wanted,
    )
    content, header_length = encode_infer_response({
        "model_name": name, "model_version": result.model_version,
        "id": payload.id or new_request_id(), "parameters": {"content_type": "pd"},
        "outputs": outputs,
    }, binary_outputs(payload, [o["name"] for o in outputs]))  # fmt: skip
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(header_length)})  # fmt: skip


_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/V2InferenceRequest"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [{
        "name": HEADER_LENGTH, "in": "header", "required": False,
        "description": "Binary tensor data: the body is this many bytes of JSON (the request) "
                       "followed by the raw data of each input with parameters.binary_data_size.",
        "schema": {"type": "integer", "minimum": 0},
    }],
}  # fmt: skip


@router.post("/models/{name}/infer", response_model=V2InferenceResponse, summary="Infer",
             responses=_ERRORS, openapi_extra=_INFER_BODY)  # fmt: skip
async def infer(name: str, request: Request, inference: DataPlaneDep) -> Response:
    """Named input tensors, one per feature column (or the MLServer pandas-codec form)."""
    return await _infer(name, None, request, inference)


@router.post("/models/{name}/versions/{version}/infer", response_model=V2InferenceResponse,
             summary="Infer with a version", responses=_ERRORS,
             openapi_extra=_INFER_BODY)  # fmt: skip
async def infer_version(
    name: str, version: str, request: Request, inference: DataPlaneDep
) -> Response:
    """As /infer, but only when that version is serving."""
    return await _infer(name, version, request, inference)
