"""Estimated next to realised performance through a real server: the champion trained by the
real CLI stores its estimator, the in-server monitor's checks report both per window, and
/metrics, `driftloop status` and the dashboard show them."""

from __future__ import annotations

import pytest

from ..support.processes import wait_until
from ..support.state import auth, serve_env

pytestmark = pytest.mark.e2e


def _next_report(client, previous: str | None) -> dict:
    def ready() -> dict | None:
        d = client.get("/drift").json()
        return d if d.get("report_id") and d["report_id"] != previous else None

    return wait_until(ready, timeout=180)  # type: ignore[no-any-return]


def test_monitor_reports_estimated_and_realised_performance(fresh_state, server_factory):
    env = serve_env(fresh_state, monitor_every_rows=1000, monitor_min_interval_s=0,
                    log_flush_interval_s=0.3, reload_interval_s=0)  # fmt: skip
    server = server_factory(env)
    with server.client() as client:
        sent = client.post("/simulate-drift", headers=auth(),
                           json={"drift_type": "none", "n": 1000, "seed": 1})  # fmt: skip
        assert sent.status_code == 200, sent.text
        plain = _next_report(client, None)
        est = plain["estimated_performance"]
        assert est["method"] == "cbpe" and est["metric"] == "roc_auc" and est["rows"] == 1000
        assert est["labelled_rows"] == 1000
        assert set(est["estimated"]) >= {"roc_auc", "accuracy", "f1"}
        for metric in ("roc_auc", "accuracy", "f1"):  # same distribution: the estimate holds
            assert abs(est["estimated"][metric] - est["realised"][metric]) < 0.06, metric
        assert est["error"] == pytest.approx(est["estimated"]["roc_auc"]
                                             - est["realised"]["roc_auc"])  # fmt: skip
        signals = {s["signal"]: s for s in plain["decision"]["signals"]}
        assert not signals["estimated_performance"]["fired"]
        assert not signals["estimated_performance"]["trigger"]  # opt-in: off by default

        def gauge() -> str | None:  # /drift reads the report as soon as detect wrote it
            text = client.get("/metrics").text
            name = 'driftloop_estimated_performance{metric="roc_auc"}'
            return next((x for x in text.splitlines() if x.startswith(name)), None)

        line = wait_until(gauge, timeout=60)
        metrics = client.get("/metrics").text
        assert float(line.split()[-1]) == pytest.approx(est["estimated"]["roc_auc"])
        assert 'driftloop_realised_performance{metric="accuracy"}' in metrics

        # concept drift: same kind of rows, labels from another relation. The estimate cannot
        # see it (by design); the realised score on the labelled rows does.
        sent = client.post("/simulate-drift", headers=auth(),
                           json={"drift_type": "concept", "n": 1000, "seed": 2})  # fmt: skip
        assert sent.status_code == 200, sent.text
        concept = _next_report(client, plain["report_id"])["estimated_performance"]
        assert abs(concept["estimated"]["roc_auc"] - est["estimated"]["roc_auc"]) < 0.03
        assert concept["realised"]["roc_auc"] < concept["estimated"]["roc_auc"] - 0.1
        page = client.get("/dashboard").text
        assert 'id="estimate"' in page and "estimated roc_auc" in page

    from rich.console import Console

    from driftloop.adapters.store import ObjectStore
    from driftloop.cli.status_view import status_view
    from driftloop.config.spec import load_spec
    from driftloop.jobs.status import gather_local_status

    from ..support.state import tracker_for

    settings = fresh_state.settings()
    facts = gather_local_status(
        settings,
        load_spec(fresh_state.spec),
        ObjectStore.from_settings(settings),
        tracker_for(fresh_state),
    )
    console = Console(width=250, record=True)
    console.print(status_view(facts))
    text = console.export_text()
    assert "estimated roc_auc" in text and "realised roc_auc" in text
    assert f"{concept['estimated']['roc_auc']:.4f}" in text
