"""Drift routes: the latest check, and the Evidently reports people open."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from driftloop.config.errors import NotFoundError

router = APIRouter(tags=["drift"])
REPORT_ID = re.compile(r"^[0-9]{8}T[0-9]{6}([0-9]{6})?Z-[0-9a-f]{6}$")


def report_ids(store: Any) -> list[str]:
    """Every report id in the store, oldest first."""
    return sorted({k.split("/")[1] for k in store.iter_prefix("reports/", "/drift.json")})


@router.get("/drift", summary="Latest drift check: per-feature verdicts and the decision")
def get_drift(request: Request) -> dict[str, Any]:
    monitor = request.app.state.monitor
    store = request.app.state.store
    latest = monitor.latest if monitor is not None else None
    if latest is None:
        ids = report_ids(store)
        if not ids:
            return {
                "status": "no drift check yet",
                "monitor_every_rows": monitor.every_rows if monitor else 0,
                "monitor_min_interval_s": monitor.min_interval_s if monitor else 0,
            }
        latest = store.read_json(f"reports/{ids[-1]}/drift.json")
    return {
        "status": "ok",
        "checks_in_this_process": monitor.checks if monitor else 0,
        "last_error": monitor.last_error if monitor else None,
        **latest,
    }


@router.get("/reports", summary="Drift report ids, newest first, with their verdicts")
def list_reports(request: Request, limit: int = 50) -> list[dict[str, Any]]:
    store = request.app.state.store
    out = []
    for report_id in reversed(report_ids(store)[-limit:]):
        data = store.read_json(f"reports/{report_id}/drift.json")
        summary = data.get("summary") or {}
        out.append(
            {
                "report_id": report_id,
                "checked_at": data.get("checked_at"),
                "model_version": data.get("model_version"),
                "rows": (data.get("window") or {}).get("rows"),
                "drift_share": summary.get("drift_share"),
                "drifted_features": summary.get("drifted_features"),
                "retrain": (data.get("decision") or {}).get("retrain"),
                "html": f"/reports/{report_id}" if data.get("report_uri") else None,
            }
        )
    return out


@router.get("/reports/latest", summary="Redirect to the newest drift report")
def latest_report(request: Request) -> RedirectResponse:
    ids = report_ids(request.app.state.store)
    if not ids:
        raise HTTPException(404, "no drift report yet")
    return RedirectResponse(f"/reports/{ids[-1]}", status_code=307)


@router.get(
    "/reports/{report_id}", response_class=HTMLResponse, summary="The Evidently drift report (HTML)"
)
def get_report(report_id: str, request: Request) -> HTMLResponse:
    if not REPORT_ID.match(report_id):
        raise HTTPException(404, f"no report {report_id!r}")
    try:
        html = request.app.state.store.read_bytes(f"reports/{report_id}/drift.html")
    except NotFoundError:
        raise HTTPException(404, f"no report {report_id!r}") from None
    return HTMLResponse(html)
