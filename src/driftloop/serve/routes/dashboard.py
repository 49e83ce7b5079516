"""GET /dashboard: the loop on one page (and its facts as JSON for ``driftloop status``).

The page is rendered on the server (``driftloop.serve.dashboard_view``) with its CSS and
script served by the app, so it works offline. What it shows comes from the app's own
objects: the model holder, the drift monitor, the metrics registry — and from the store
(drift reports, events, retrains, live quality), whose facts are cached for a few seconds
and refreshed in a background thread, so a page view never waits on a store scan once the
first one is done.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from driftloop.core.loop_facts import model_facts, now_iso
from driftloop.core.loop_facts import policy_facts as make_policy_facts
from driftloop.core.traffic import TrafficSnapshot, is_traffic_route, traffic_between
from driftloop.jobs.status import PART_ERRORS, gather_store_facts
from driftloop.serve.dashboard_view import render_dashboard
from driftloop.serve.data_plane import dump_json

log = logging.getLogger("driftloop.serve.dashboard")
router = APIRouter(tags=["dashboard"])
STORE_FACTS_TTL_S = 10.0
"""Age after which the store's facts are refreshed (in the background)."""
STORE_FACTS_MAX_AGE_S = 60.0
"""Age after which the store's facts are refreshed before the view is answered."""
RATE_WINDOW_S = 300.0
"""Rates are measured over at most this many seconds of snapshots."""
DEFAULT_REFRESH_S = 15
STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_state_lock = threading.Lock()


def snapshot_telemetry(registry: Any, at: float) -> tuple[TrafficSnapshot, float | None]:
    """The traffic counters now, and when the registry was created (the zero point)."""
    requests: dict[str, float] = {}
    buckets: dict[float, float] = {}
    predictions: dict[str, float] = {}
    values: dict[float, float] = {}
    created: float | None = None
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == "driftloop_model_reloads_created":
                created = s.value
            route = s.labels.get("route", "")
            if s.name == "driftloop_http_requests_total" and is_traffic_route(route):
                key = f"{route} {s.labels['status']}"
                requests[key] = requests.get(key, 0.0) + s.value
            elif s.name == "driftloop_http_request_duration_seconds_bucket" and (
                is_traffic_route(route)
            ):
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
            elif s.name == "driftloop_predictions_total":
                cls = s.labels["prediction"]
                predictions[cls] = predictions.get(cls, 0.0) + s.value
            elif s.name == "driftloop_prediction_value_bucket":
                values[float(s.labels["le"])] = s.value
    snap = TrafficSnapshot(
        at, requests, tuple(sorted(buckets.items())), predictions, tuple(sorted(values.items()))
    )
    return snap, created


class TrafficSampler:
    """Keeps snapshots taken at each view; rates are measured against the oldest snapshot
    of the last five minutes (else the newest older one, else the registry's creation)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._snaps: deque[TrafficSnapshot] = deque(maxlen=300)
        self._lock = threading.Lock()

    def traffic(self) -> dict[str, Any]:
        """Traffic facts now."""
        now = time.time()
        snap, created = snapshot_telemetry(self.registry, now)
        with self._lock:
            older = [s for s in self._snaps if now - s.at >= 1.0]
            recent = [s for s in older if now - s.at <= RATE_WINDOW_S]
            base = recent[0] if recent else (older[-1] if older else None)
            if not self._snaps or now - self._snaps[-1].at >= 1.0:
                self._snaps.append(snap)
        if base is None:
            start = created if created is not None else now
            base, basis = TrafficSnapshot(start), f"since start ({_span(now - start)})"
        else:
            basis = f"last {_span(now - base.at)}"
        return traffic_between(base, snap, basis)


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class DashboardState:
    """One app's dashboard: the cached store facts and the traffic sampler."""

    def __init__(
        self, app_state: Any, ttl_s: float = STORE_FACTS_TTL_S,
        max_age_s: float = STORE_FACTS_MAX_AGE_S,
    ) -> None:  # fmt: skip
        self.app_state = app_state
        self.ttl_s = ttl_s
        self.max_age_s = max_age_s
        self.sampler = TrafficSampler(app_state.telemetry.registry)
        self._store_facts: dict[str, Any] | None = None
        self._store_facts_at = -math.inf
        self._refresh_lock = threading.Lock()
        self._known_windows: dict[str, Any] = {}
        self._spec: Any = None
        self._spec_error: str | None = None

    def spec(self) -> Any:
        """The data set spec (the monitor's when there is one), loaded once."""
        if self._spec is None and self._spec_error is None:
            monitor = getattr(self.app_state, "monitor", None)
            try:
                if monitor is not None:
                    self._spec = monitor.spec
                else:
                    from driftloop.config.spec import load_spec

                    self._spec = load_spec(self.app_state.settings.spec)
            except PART_ERRORS as exc:
                self._spec_error = f"spec: {exc}"
        return self._spec

    def _refresh(self) -> None:
        facts = gather_store_facts(self.app_state.store, self.spec(), self._known_windows)
        self._store_facts, self._store_facts_at = facts, time.monotonic()

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception:  # noqa: BLE001 - the page keeps showing the last facts; logged
            log.exception("dashboard facts refresh failed")
        finally:
            self._refresh_lock.release()

    def store_facts(self) -> dict[str, Any]:
        """The store's facts. Older than ``ttl_s``: refreshed in a background thread while
        the view gets the previous ones; older than ``max_age_s`` (the first view, or after
        a quiet spell): computed now, so a view never shows facts older than that."""
        age = time.monotonic() - self._store_facts_at
        if self._store_facts is None or age > self.max_age_s:
            with self._refresh_lock:  # waits for a background refresh, then looks again
                if time.monotonic() - self._store_facts_at > self.max_age_s:
                    self._refresh()
        elif age > self.ttl_s and self._refresh_lock.acquire(blocking=False):
            threading.Thread(target=self._refresh_in_background, name="dashboard-facts",
                             daemon=True).start()  # fmt: skip
        assert self._store_facts is not None
        return self._store_facts

    def facts(self) -> dict[str, Any]:
        """Everything the page and ``driftloop status --url`` show."""
        s = self.app_state
        store_facts = self.store_facts()
        holder = s.holder
        current = holder.current
        model = model_facts(holder.status(), current.info.tags if current is not None else {})
        monitor = getattr(s, "monitor", None)
        windows = list(store_facts["windows"])
        seen = {w["report_id"] for w in windows}
        for h in list(monitor.history) if monitor is not None else []:
            if h.get("report_id") not in seen:  # checked here, not (yet) readable in the store
                windows.append({**h, "drifted_features": [], "reason": None, "html": False})
        windows.sort(key=lambda w: str(w.get("checked_at") or ""))
        spec = self.spec()
        errors = list(store_facts["errors"]) + ([self._spec_error] if self._spec_error else [])
        return {
            "generated_at": now_iso(), "source": f"server {s.store.url}", "model": model,
            "policy": make_policy_facts(spec) if spec is not None else None,
            "monitor": None if monitor is None else {
                "every_rows": monitor.every_rows, "checks": monitor.checks,
                "last_error": monitor.last_error},
            "windows": windows, "timeline": store_facts["timeline"],
            "quality": store_facts["quality"], "traffic": self.sampler.traffic(),
            "errors": errors,
        }  # fmt: skip


def dashboard_state(request: Request) -> DashboardState:
    """The app's dashboard state, created on first use."""
    app_state = request.app.state
    state = getattr(app_state, "dashboard", None)
    if state is None:
        with _state_lock:
            state = getattr(app_state, "dashboard", None)
            if state is None:
                state = app_state.dashboard = DashboardState(app_state)
    return state  # type: ignore[no-any-return]


@router.get("/", include_in_schema=False)
def read_root() -> RedirectResponse:
    """The dashboard is the service's front page."""
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard", response_class=HTMLResponse, summary="The loop on one page")
def read_dashboard(request: Request, refresh: int = DEFAULT_REFRESH_S) -> HTMLResponse:
    """Serving model, drift share per window (linked to the Evidently reports), drift
    events / retrains / gate decisions, traffic and live quality. Refreshes itself every
    ``refresh`` seconds (0: never)."""
    html = render_dashboard(dashboard_state(request).facts(), refresh_s=max(refresh, 0))
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                       "Cache-Control": "no-store"})  # fmt: skip


@router.get("/dashboard/data", summary="The dashboard's facts as JSON")
def read_dashboard_data(request: Request) -> Response:
    """What the page shows, as JSON (``driftloop status --url`` reads this)."""
    return Response(dump_json(dashboard_state(request).facts()), media_type="application/json")


@router.get("/dashboard/static/{name}", include_in_schema=False)
def read_static(name: str) -> Response:
    """The page's CSS and script, from the package (no CDN)."""
    if name not in STATIC:
        raise HTTPException(404, f"no static file {name!r}")
    data = resources.files("driftloop.serve").joinpath("static", name).read_bytes()
    return Response(data, media_type=STATIC[name],
                    headers={"Cache-Control": "public, max-age=300"})  # fmt: skip
