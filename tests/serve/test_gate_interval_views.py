"""A gate decision's confidence interval is shown where its scores are: the dashboard's
timeline, ``status``'s timeline and ``driftloop retrain``'s table."""

from __future__ import annotations

from rich.console import Console

from driftloop.cli.status_view import _timeline_table
from driftloop.cli.views import retrain_view
from driftloop.core.loop_facts import build_timeline
from driftloop.jobs.retrain import RetrainResult
from driftloop.serve.dashboard_view import timeline_section

INTERVAL = {"evaluation": "recent", "rows": 200, "improvement": 0.0125, "lower_bound": -0.0033,
            "confidence": 0.9, "draws": 1000, "seed": 0}  # fmt: skip
GATE = {"metric": "roc_auc", "challenger_version": "2", "champion_version": "1",
        "challenger_score": 0.8595, "champion_score": 0.8470, "margin": 0.0,
        "evaluation_rows": 200, "promote": False, "reason": "not above 0",
        "interval": INTERVAL, "rule": "better by more than 0 on the newest rows, and the 90% "
        "lower bound of the paired bootstrap improvement above 0"}  # fmt: skip
SHOWN = "improvement +0.0125, 90% lower bound -0.0033 (1000 paired draws of 200 rows)"


def _text(renderable) -> str:
    console = Console(width=400, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_interval_is_shown_beside_the_gate_scores():
    retrain = {"retrain_id": "manual-1", "status": "rejected", "finished_at":
               "2026-12-01T20:00:00+00:00", "challenger_version": "2", "champion_version": "1",
               "gate": GATE}  # fmt: skip
    timeline = build_timeline([], [retrain])
    gate = next(e for e in timeline if e["kind"] == "gate")
    assert gate["scores"]["interval"] == INTERVAL
    assert SHOWN in timeline_section(timeline)
    assert SHOWN in _text(_timeline_table(timeline))
    result = RetrainResult("manual-1", "rejected", "not above 0", gate=GATE)
    table = _text(retrain_view(result))
    assert SHOWN in table and "paired bootstrap improvement above 0" in table
    # a decision recorded before the interval existed shows as before
    old = {k: v for k, v in GATE.items() if k not in ("interval", "rule")}
    plain = build_timeline([], [retrain | {"gate": old}])
    assert "interval" not in plain[0]["scores"] and "lower bound" not in timeline_section(plain)
