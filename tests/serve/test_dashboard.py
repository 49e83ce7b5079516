"""The dashboard: the page built from facts, the facts themselves (timeline, live quality,
traffic), and the routes on a real app built by ``create_app`` over a trained state."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftloop.config.spec import load_spec
from driftloop.core.loop_facts import build_timeline, live_quality
from driftloop.core.metrics import classification_metrics
from driftloop.core.traffic import histogram_quantile, traffic_between
from driftloop.serve.dashboard_view import render_dashboard
from driftloop.serve.routes.dashboard import snapshot_telemetry
from driftloop.serve.telemetry import LATENCY_BUCKETS, Telemetry

from ..conftest import ROOT, TELCO_SPEC
from .conftest import TrainedState, sample_records

RID = ["20261128T120000Z-aaaaaa", "20261128T120100Z-bbbbbb", "20261128T120200Z-cccccc"]


def dashboard_app(settings: Any) -> Any:
    """``create_app`` with the dashboard (and drift) routes, wired here if the app lacks them."""
    from driftloop.serve.app import create_app
    from driftloop.serve.routes import dashboard, drift

    app = create_app(settings)
    paths = {getattr(r, "path", None) for r in app.routes}
    if not hasattr(app.state, "monitor"):
        app.state.monitor = None
    if "/reports/{report_id}" not in paths:
        app.include_router(drift.router)
    if "/dashboard" not in paths:
        app.include_router(dashboard.router)
    return app


class Elements(HTMLParser):
    """Every start tag with its attributes (SVG included)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(
            m in (a.get(k) or "").split() for k, m in match.items())]  # fmt: skip


def window(i: int, share: float, drifted: bool, html: bool = True, version: str = "1") -> dict:
    return {"report_id": RID[i], "checked_at": f"2026-11-28T12:0{i}:00+00:00",
            "drift_share": share, "window_drifted": drifted, "retrain": drifted,
            "model_version": version, "rows": 300, "drifted_features": ["tenure"] * drifted,
            "reason": "", "html": html}  # fmt: skip


def facts(**parts: Any) -> dict[str, Any]:
    base = {"generated_at": "2026-11-28T12:10:00+00:00", "source": "test", "model": None,
            "policy": {"drift_share": 0.2, "threshold": 0.1, "min_rows": 200,
                       "window_rows": 1000, "consecutive_windows": 1, "cooldown_s": 60,
                       "key_features": ["tenure"], "metric": "roc_auc"},
            "monitor": None, "windows": [], "timeline": [], "quality": None,
            "traffic": None, "errors": []}  # fmt: skip
    return base | parts


# -- the page ------------------------------------------------------------------------------
def test_chart_has_a_bar_per_window_threshold_and_links_to_drifted_reports():
    windows = [
        window(0, 0.05, False),
        window(1, 0.4, True),
        window(2, 0.3, True, html=False, version="2"),
    ]
    page = Elements(render_dashboard(facts(windows=windows)))
    svg = page.find("svg", id="drift-chart")
    assert svg and svg[0]["data-windows"] == "3"
    bars = [a for t, a in page.tags if "window" in (a.get("class") or "").split()]
    assert [b["data-report-id"] for b in bars] == RID
    links = page.find("a", **{"class": "drifted"})
    assert [a["href"] for a in links] == [f"/reports/{RID[1]}"]  # the third has no report
    (threshold,) = page.find("line", **{"class": "threshold"})
    grid = {float(a["y1"] or 0) for a in page.find("line", **{"class": "grid"})}
    assert float(threshold["y1"] or 0) in grid  # 20% sits on a grid line of the 0..50% axis
    heights = [float(a["height"] or 0) for a in page.find("rect", **{"class": "bar"})]
    assert heights[1] == pytest.approx(heights[2] * 4 / 3, rel=0.02)  # 40% vs 30%
    assert page.find("line", **{"class": "version-change"})  # v1 -> v2 is marked


def test_values_from_the_store_are_escaped():
    evil = '<script>alert("x")</script>'
    w = window(0, 0.5, True) | {"drifted_features": [evil]}
    entry = {
        "at": "2026-11-28T12:00:00+00:00",
        "kind": "drift-event",
        "id": evil,
        "outcome": evil,
        "detail": evil,
        "report_id": "../../etc",
        "scores": None,
    }
    html = render_dashboard(facts(windows=[w], timeline=[entry], errors=[evil]))
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert 'href="/reports/../../etc"' not in html  # only well-formed report ids are linked
    assert html.count("<script") == 1  # the page's own script, and nothing inline
    assert " style=" not in html and "onclick" not in html  # strict CSP: no inline styles


def test_page_before_any_model_or_check():
    html = render_dashboard(facts(model={"version": None, "last_reload_error": {
        "error": "ModelLoadError: broken"}}), refresh_s=0)  # fmt: skip
    assert "No model loaded: ModelLoadError: broken" in html
    assert "No drift check yet" in html and "No labels yet" in html
    assert 'http-equiv="refresh"' not in html and 'data-refresh="0"' in html


# -- the facts -----------------------------------------------------------------------------
def test_timeline_joins_events_retrains_and_gate_decisions():
    gate = {
        "metric": "roc_auc",
        "challenger_version": "3",
        "champion_version": "2",
        "challenger_score": 0.81,
        "champion_score": 0.84,
        "margin": 0.0,
        "evaluation_rows": 900,
        "promote": False,
        "reason": "does not beat",
    }
    rejected = {
        "retrain_id": "e1",
        "status": "rejected",
        "reason": "does not beat",
        "champion_version": "2",
        "challenger_version": "3",
        "rows": {"evaluation": 900},
        "gate": gate,
    }
    events = [
        {"event_id": "e1", "status": "retrain-rejected",
         "event": {"created_at": "2026-11-28T10:00:00+00:00", "drift_score": 0.35,
                   "drifted_features": ["tenure"], "report_id": RID[0], "model_version": "2",
                   "source": "monitor"},
         "history": [{"at": "2026-11-28T10:00:01+00:00", "what": "emitted"},
                     {"at": "2026-11-28T10:00:02+00:00", "what": "retrain-running"},
                     {"at": "2026-11-28T10:01:00+00:00", "what": "retrain-rejected",
                      "result": rejected}]},
        {"event_id": "e2", "status": "duplicate-skipped",
         "event": {"created_at": "2026-11-28T10:05:00+00:00", "drift_score": 0.3},
         "history": [{"at": "2026-11-28T10:05:00+00:00", "what": "duplicate-skipped"}]},
    ]  # fmt: skip
    manual = {"retrain_id": "manual-1", "status": "promoted", "finished_at":
              "2026-11-28T11:00:00+00:00", "challenger_version": "4", "champion_version": "2",
              "gate": gate | {"challenger_version": "4", "challenger_score": 0.86,
                              "promote": True}}  # fmt: skip
    timeline = build_timeline(events, [manual])  # e1's retrain is found in its history
    assert [(e["kind"], e["id"], e["outcome"]) for e in timeline] == [
        ("gate", "manual-1", "promoted"), ("retrain", "manual-1", "promoted"),
        ("drift-event", "e2", "duplicate-skipped"),
        ("gate", "e1", "rejected"), ("retrain", "e1", "rejected"),
        ("drift-event", "e1", "retrain-rejected"),
    ]  # fmt: skip
    gate_e1 = timeline[3]
    assert gate_e1["at"] == "2026-11-28T10:01:00+00:00"
    assert gate_e1["scores"] == {"metric": "roc_auc", "challenger": 0.81, "champion": 0.84,
                                 "challenger_version": "3", "champion_version": "2",
                                 "margin": 0.0, "rows": 900}  # fmt: skip
    assert timeline[4]["at"] == "2026-11-28T10:00:02+00:00"  # the retrain started then
    assert timeline[5]["report_id"] == RID[0] and "35.0%" in timeline[5]["detail"]
    html = render_dashboard(facts(timeline=timeline))
    assert "0.8100" in html and "0.8400" in html and f'href="/reports/{RID[0]}"' in html


def test_live_quality_per_window_of_labelled_rows():
    spec = load_spec(TELCO_SPEC)
    rng = np.random.default_rng(0)
    n = 500
    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    log = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "ts": pd.to_datetime([t0 + timedelta(seconds=i) for i in range(n)], utc=True),
        "model_version": ["1"] * 300 + ["2"] * 200, "source": "api",
        **{c: rng.normal(size=n) for c in spec.numeric_features},
        **{c: "x" for c in spec.categorical_features},
        "prediction": "No", "probability": rng.uniform(size=n)})  # fmt: skip
    labelled = log.drop(index=rng.choice(300, 50, replace=False))  # 50 got no label
    truth = np.where(rng.uniform(size=450) < labelled["probability"], "Yes", "No")
    feedback = pd.DataFrame({"request_id": labelled["request_id"], "label": truth,
                             "ts": pd.Timestamp(t0 + timedelta(hours=1))})  # fmt: skip
    quality = live_quality(log, feedback, spec, window_rows=200)
    assert quality["labelled_rows"] == 450
    assert [w["rows"] for w in quality["windows"]] == [50, 200, 200]  # newest window is full
    assert quality["windows"][-1]["model_versions"] == ["2"]
    newest = feedback.merge(log, on="request_id").sort_values("ts_y").tail(200)
    expected = classification_metrics((newest["label"] == "Yes").to_numpy(),
                                      newest["probability"].to_numpy())  # fmt: skip
    assert quality["windows"][-1]["metrics"] == pytest.approx(expected)
    assert quality["windows"][-1]["end"] == (t0 + timedelta(seconds=n - 1)).isoformat()
    assert live_quality(log, feedback.head(0), spec, 200)["windows"] == []


def test_traffic_from_the_metrics_registry():
    telemetry = Telemetry()
    before, created = snapshot_telemetry(telemetry.registry, at=100.0)
    assert created is not None
    for seconds, status in [(0.0015, 200)] * 6 + [(0.004, 200)] * 2 + [(0.2, 500), (0.001, 422)]:
        telemetry.observe_request("/predict", "POST", status, seconds)
    telemetry.observe_request("/dashboard", "GET", 200, 0.3)  # pages and probes are not traffic
    telemetry.observe_request("/metrics", "GET", 500, 0.3)
    telemetry.count_predictions("No", "api", 6)
    telemetry.count_predictions("Yes", "api", 2)
    after, _ = snapshot_telemetry(telemetry.registry, at=110.0)
    traffic = traffic_between(before, after, "last 10 s")
    assert traffic["requests"] == 10 and traffic["request_rate"] == pytest.approx(1.0)
    assert traffic["error_rate"] == pytest.approx(0.1)
    assert traffic["client_error_rate"] == pytest.approx(0.1)
    assert traffic["class_mix"] == {"No": 6, "Yes": 2}
    assert traffic["prediction_rate"] == pytest.approx(0.8)
    assert 1.0 < traffic["latency_ms"]["p50"] <= 2.0  # in the (1, 2] ms bucket
    assert traffic["routes"] == [{"route": "/predict", "requests": 10, "errors": 1,
                                  "client_errors": 1}]  # fmt: skip
    cumulative = [(b, float(i + 1)) for i, b in enumerate(LATENCY_BUCKETS)]
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(1.0, [*cumulative, (float("inf"), 99.0)]) == LATENCY_BUCKETS[-1]


# -- the routes on a real app ----------------------------------------------------------------
@pytest.fixture(scope="module")
def state_copy(trained_state: TrainedState, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the trained state: this module writes reports into its store."""
    dst = tmp_path_factory.mktemp("dashboard") / "state"
    shutil.copytree(trained_state.state_dir, dst)
    return dst


@pytest.fixture(scope="module")
def client(state_copy: Path, trained_state: TrainedState) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from driftloop.config.settings import Settings

    settings = Settings(state_dir=state_copy, spec=trained_state.spec,
                        server={"reload_interval_s": 0})  # fmt: skip
    with TestClient(dashboard_app(settings)) as c:
        yield c


def write_window(client: Any, frame: pd.DataFrame) -> str:
    from driftloop.jobs.detect import detect_drift

    s = client.app.state
    path = Path(s.settings.state_dir) / f"window-{len(s.store.list('reports'))}.parquet"
    frame.to_parquet(path)
    result = detect_drift(load_spec(s.settings.spec), s.store, s.tracker,
                          current_data_path=str(path), report=False)  # fmt: skip
    return str(result.report_id)


def test_dashboard_routes_on_a_trained_app(client, trained_state):
    records, frame = sample_records(trained_state, 300)
    shifted = frame.assign(monthly_charges=frame["monthly_charges"] * 1.5 + 20)
    ids = [write_window(client, frame), write_window(client, shifted)]
    for r in records[:5]:
        assert client.post("/predict", json=r).status_code == 200

    response = client.get("/dashboard")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page = Elements(response.text)
    assert [a["data-report-id"] for t, a in page.tags if "window" in (a.get("class") or "")] \
        == ids  # fmt: skip
    assert [a["data-report-id"] for a in page.find("g", **{"class": "drifted"})] == [ids[1]]
    assert not page.find("a", **{"class": "window"})  # report=False: nothing to link to
    assert re.search(r"serving v\d+", response.text)

    data = client.get("/dashboard/data").json()
    assert data["model"]["version"] == client.get("/model").json()["version"]
    # train promotes through the gate, which stamps promoted_at on the champion
    assert data["model"]["since_what"] == "promoted" and data["model"]["metrics"]["test_roc_auc"]
    assert [w["report_id"] for w in data["windows"]] == ids
    assert data["windows"][1]["window_drifted"] and not data["windows"][0]["window_drifted"]
    assert data["policy"]["drift_share"] == 0.2
    assert data["traffic"]["requests"] >= 5 and sum(data["traffic"]["class_mix"].values()) >= 5
    assert data["errors"] == []

    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/dashboard/static/dashboard.js").status_code == 200
    for bad in ("nope.css", "..%2Fapp.py", "%2E%2E%2Froutes%2Fdashboard.py"):
        assert client.get(f"/dashboard/static/{bad}").status_code == 404


def test_dashboard_works_before_any_model(tmp_path):
    from fastapi.testclient import TestClient

    from driftloop.config.settings import Settings

    settings = Settings(state_dir=tmp_path / "state", spec=TELCO_SPEC,
                        server={"reload_interval_s": 0})  # fmt: skip
    with TestClient(dashboard_app(settings)) as c:
        response = c.get("/dashboard")
        data = c.get("/dashboard/data").json()
    assert response.status_code == 200
    assert "No model loaded" in response.text and "no model" in response.text
    assert data["model"]["version"] is None and data["windows"] == [] and data["errors"] == []


def test_grafana_dashboard_queries_metrics_the_service_exports():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "driftloop-dashboard.json").read_text())
    panels = dashboard["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    used = {re.sub(r"_(total|bucket|sum|count)$", "", name)
            for e in exprs for name in re.findall(r"\bdriftloop_[a-z_]+", e)}  # fmt: skip
    exported = {m.name for m in Telemetry().registry.collect()}
    monitor = {"driftloop_drift_share", "driftloop_drift_checks"}  # the drift monitor's own
    assert used - exported - monitor == set()
    assert monitor <= used and "driftloop_http_request_duration_seconds" in used
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert all(set(re.findall(r"\$(\w+)", e)) <= variables | {"__rate_interval", "__range"}
               for e in exprs)  # fmt: skip
