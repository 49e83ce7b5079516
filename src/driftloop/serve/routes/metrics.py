"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from driftloop.serve.deps import PredictionLogDep, TelemetryDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def read_metrics(telemetry: TelemetryDep, prediction_log: PredictionLogDep) -> Response:
    """Requests and latency by route and status, predictions by class, the serving version,
    reloads, inference-log rows written / spooled / dropped, unseen categories by feature."""
    telemetry.log_buffered_rows.set(prediction_log.buffered)
    return Response(telemetry.render(), media_type=telemetry.content_type)
