"""``driftloop status``: gather the facts of the loop (the CLI shows them as tables).

Locally the facts come from the state folder (the champion from its record in the store,
from the registry only when there is none yet; drift reports, events, retrains, inference
log and feedback); for a running server they come from its
``GET /dashboard/data``, which the server builds with the same functions (its traffic
from its own metrics). ``gather_store_facts`` is shared with the dashboard.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from driftloop.adapters.reports import read_report, report_ids
from driftloop.adapters.retrain_records import read_retrains
from driftloop.adapters.store import ObjectStore, StoreUnavailableError
from driftloop.config.errors import DriftloopError, InputError, NotFoundError
from driftloop.config.spec import DatasetSpec
from driftloop.core.loop_facts import (
    build_timeline,
    live_quality,
    model_facts,
    now_iso,
    policy_facts,
    window_from_report,
)
from driftloop.core.traffic import log_traffic
from driftloop.jobs.champion import TrackerSource, known_champion

WINDOW_LIMIT = 60
"""Newest drift windows shown."""
QUALITY_LOG_ROWS = 20_000
"""Newest inference-log rows read to join with feedback."""
# Errors one part of the facts can fail with; the other parts are still shown.
# (the store raises its own errors, StoreUnavailableError or NotFoundError; ValueError is a
# half-written or foreign JSON object; KeyError and TypeError a record of another shape)
PART_ERRORS = (DriftloopError, StoreUnavailableError, ValueError, KeyError, TypeError)


def read_windows(
    store: ObjectStore, limit: int = WINDOW_LIMIT, known: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The newest checked windows, oldest first. Reports never change once written, so a
    caller may pass ``known`` (report id -> window) to skip re-reading them."""
    out = []
    for report_id in reversed(report_ids(store, limit)):
        if known is not None and report_id in known:
            out.append(known[report_id])
            continue
        try:
            data = read_report(store, report_id)
        except (NotFoundError, ValueError):
            continue  # deleted or half-written meanwhile: the next read shows it
        if data.get("summary") is None:
            continue
        window = window_from_report({"report_id": report_id, **data})
        if known is not None:
            known[report_id] = window
        out.append(window)
    return out


def read_live_quality(store: ObjectStore, spec: DatasetSpec) -> dict[str, Any]:
    """``live_quality`` over the newest logged rows and their feedback, windows of the
    policy's ``min_rows`` (the smallest window it trusts)."""
    from driftloop.adapters.production_data import read_feedback, read_inference_log

    log = read_inference_log(store, limit_rows=QUALITY_LOG_ROWS)
    since = pd.to_datetime(log["ts"], utc=True).min() if len(log) else None
    feedback = read_feedback(store, since=since.to_pydatetime() if since is not None else None)
    return live_quality(log, feedback, spec, spec.drift.min_rows)


def gather_store_facts(
    store: ObjectStore, spec: DatasetSpec | None, known_windows: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Windows, timeline and live quality from the store; a part that fails is left empty
    and its error listed, so one unreadable part does not hide the others."""
    from driftloop.adapters.event_records import read_events

    facts: dict[str, Any] = {"windows": [], "timeline": [], "quality": None, "errors": []}
    try:
        facts["windows"] = read_windows(store, known=known_windows)
    except PART_ERRORS as exc:
        facts["errors"].append(f"drift windows: {exc}")
    try:
        facts["timeline"] = build_timeline(read_events(store), read_retrains(store))
    except PART_ERRORS as exc:
        facts["errors"].append(f"timeline: {exc}")
    if spec is not None:
        try:
            facts["quality"] = read_live_quality(store, spec)
        except PART_ERRORS as exc:
            facts["errors"].append(f"live quality: {exc}")
    return facts


def _champion_facts(store: ObjectStore, tracker: TrackerSource) -> dict[str, Any] | None:
    """The champion (record first, registry when there is none) and where it was read."""
    lookup = known_champion(store, tracker, "status")
    info = lookup.info
    if info is None:
        return None
    facts = model_facts(
        {"name": info.name, "version": info.version, "loaded": None,
         "dataset_version": info.dataset_version, "candidate": info.tags.get("candidate"),
         "kind": info.tags.get("kind"), "champion_version": info.version}, info.tags)  # fmt: skip
    facts["origin"] = lookup.origin(store)
    return facts


def gather_local_status(
    settings: Any, spec: DatasetSpec | None, store: ObjectStore, tracker: TrackerSource
) -> dict[str, Any]:
    """The facts from a state folder: the champion, the store, the inference log."""
    from driftloop.adapters.production_data import read_recent_log

    facts = gather_store_facts(store, spec)
    facts.update(generated_at=now_iso(), source=f"local {store.url}",
                 policy=policy_facts(spec) if spec else None, monitor=None)  # fmt: skip
    try:
        facts["model"] = _champion_facts(store, tracker)
    except PART_ERRORS as exc:
        facts["model"] = None
        facts["errors"].append(f"registry: {exc}")
    try:
        now = datetime.now(UTC)
        log = read_recent_log(store, now - timedelta(hours=1))
        facts["traffic"] = log_traffic(log, 60, now)
    except PART_ERRORS as exc:
        facts["traffic"] = None
        facts["errors"].append(f"traffic: {exc}")
    return facts


def fetch_remote_status(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The facts a running server reports at ``GET <url>/dashboard/data``."""
    import httpx

    endpoint = url.rstrip("/").removesuffix("/dashboard") + "/dashboard/data"
    try:
        response = httpx.get(endpoint, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DriftloopError(f"cannot reach {endpoint}: {exc}") from None
    if response.status_code == 404:
        raise InputError(f"{endpoint} not found: is {url} a driftloop server with a dashboard?")
    if response.status_code != 200:
        raise DriftloopError(f"{endpoint} answered HTTP {response.status_code}: "
                             f"{response.text[:200]}")  # fmt: skip
    return dict(response.json())
