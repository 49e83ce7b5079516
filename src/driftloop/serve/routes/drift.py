"""Drift routes: the latest check, and the Evidently reports people open."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from driftloop.adapters.reports import is_report_id, read_report, read_report_html, report_ids
from driftloop.config.errors import NotFoundError

router = APIRouter(tags=["drift"])


@router.get("/drift", summary="Latest drift check: per-feature verdicts and the decision")
def get_drift(request: Request) -> dict[str, Any]:
    monitor = request.app.state.monitor
    store = request.app.state.store
    latest = monitor.latest if monitor is not None else None
    if latest is None:
        ids = report_ids(store, limit=1)
        if not ids:
            return {
                "status": "no drift check yet",
                "monitor_every_rows": monitor.every_rows if monitor else 0,
                "monitor_min_interval_s": monitor.min_interval_s if monitor else 0,
                "coverage": monitor.coverage.to_dict() if monitor else None,
                "checker": monitor.checker.where() if monitor else None,
            }
        latest = read_report(store, ids[0])
    return {
        "status": "ok",
        "checks_in_this_process": monitor.checks if monitor else 0,
        "last_error": monitor.last_error if monitor else None,
        "coverage": monitor.coverage.to_dict() if monitor else None,
        "checker": monitor.checker.where() if monitor else None,
        **latest,
    }


@router.get("/reports", summary="Drift report ids, newest first, with their verdicts")
def list_reports(request: Request, limit: int = 50) -> list[dict[str, Any]]:
    store = request.app.state.store
    out = []
    for report_id in report_ids(store, limit):
        try:
            data = read_report(store, report_id)
        except (NotFoundError, ValueError):
            continue  # deleted meanwhile
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
    ids = report_ids(request.app.state.store, limit=1)
    if not ids:
        raise HTTPException(404, "no drift report yet")
    return RedirectResponse(f"/reports/{ids[0]}", status_code=307)


@router.get(
    "/reports/{report_id}", response_class=HTMLResponse, summary="The Evidently drift report (HTML)"
)
def get_report(report_id: str, request: Request) -> HTMLResponse:
    if not is_report_id(report_id):
        raise HTTPException(404, f"no report {report_id!r}")
    store = request.app.state.store
    try:
        html = read_report_html(store, report_id)
    except NotFoundError:
        html = _render_on_demand(request, report_id)
    return HTMLResponse(html)


def _render_on_demand(request: Request, report_id: str) -> bytes:
    """A report written without its HTML (the monitor's, not drifted): render it now from
    the rows it kept (a sync route: this runs in the thread pool, not the event loop)."""
    from driftloop.jobs.report_html import render_stored

    monitor = request.app.state.monitor
    try:
        return render_stored(request.app.state.store, monitor.spec, report_id)
    except NotFoundError:
        raise HTTPException(404, f"no report {report_id!r}") from None
