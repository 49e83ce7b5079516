"""Evidently reports use driftloop's methods and agree with driftloop's verdicts.

Evidently is slow (seconds to import, about a second a run here), so this file keeps to three
small runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftloop.adapters.evidently_report import evidently_drift_verdicts, render_drift_report
from driftloop.config.spec import load_spec
from driftloop.core.drift_reference import compute_drift

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "configs" / "telco.yaml")
NUM, CAT = SPEC.numeric_features, SPEC.categorical_features
THRESHOLD = SPEC.drift.threshold


@pytest.fixture(scope="module")
def windows() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reference (6,043 rows), an undrifted window and a drifted one (1,000 rows each)."""
    df = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    df["total_charges"] = pd.to_numeric(df["total_charges"], errors="coerce")
    idx = np.random.default_rng(0).permutation(len(df))
    ref, same = df.iloc[idx[1000:]], df.iloc[idx[:1000]]
    drifted = same.copy()
    drifted["monthly_charges"] = drifted["monthly_charges"] * 1.5 + 20
    drifted["contract"] = np.random.default_rng(1).choice(
        ["Month-to-month", "One year", "Two year"], size=len(drifted), p=[0.9, 0.05, 0.05]
    )
    return ref, same, drifted


def assert_agree(ours, theirs: dict) -> None:
    assert set(theirs) == {f.feature for f in ours.features}
    for f in ours.features:
        ev = theirs[f.feature]
        assert ev["method"] == f.method, f.feature
        assert ev["threshold"] == pytest.approx(f.threshold)
        assert ev["score"] == pytest.approx(f.score, rel=1e-6, abs=1e-9), f.feature
        assert ev["drifted"] == f.distribution_drifted, f.feature


def test_importing_the_report_module_does_not_import_evidently() -> None:
    code = (
        "import sys, driftloop.adapters.evidently_report, driftloop.core.drift_reference, "
        "driftloop.core.policy;"
        "sys.exit('evidently' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_drifted_window_agrees_with_evidently_configured_like_driftloop(windows) -> None:
    ref, _, drifted = windows
    ours = compute_drift(ref, drifted, NUM, CAT, THRESHOLD)
    assert set(ours.drifted_features) == {"monthly_charges", "contract"}
    methods = {f.feature: f.method for f in ours.features}
    theirs = evidently_drift_verdicts(ref, drifted, NUM, CAT, THRESHOLD, methods=methods)
    assert_agree(ours, theirs)


def test_undrifted_window_agrees_with_evidentlys_plain_defaults(windows) -> None:
    # With more than 1000 reference rows Evidently's own defaults are driftloop's methods.
    ref, same, _ = windows
    ours = compute_drift(ref, same, NUM, CAT, THRESHOLD)
    assert ours.drifted_features == ()
    assert_agree(ours, evidently_drift_verdicts(ref, same, NUM, CAT))


def test_report_keeps_driftloops_methods_on_a_small_sampled_reference(windows) -> None:
    ref, _, drifted = windows
    current = drifted.copy()
    current["tenure"] = np.nan  # Evidently cannot test an empty column: it is left out
    report = render_drift_report(ref, current, NUM, CAT, THRESHOLD, max_rows=800, seed=3)

    assert report.sampled and report.rows_reference == len(ref)
    assert (report.rows_reference_used, report.rows_current_used) == (800, 800)
    assert report.json["sampling"]["rows_reference_used"] == 800
    assert report.skipped_columns == ("tenure",)
    # With <= 1000 reference rows Evidently's defaults would be KS / chi-square / Z p-values.
    cols = report.evidently_columns
    assert set(cols) == set(NUM + CAT) - {"tenure"}
    assert cols["monthly_charges"]["method"] == "wasserstein"
    assert cols["contract"]["method"] == "jensenshannon"
    assert cols["female"]["method"] == "jensenshannon"
    assert all(c["threshold"] == THRESHOLD for c in cols.values())
    assert {k for k, c in cols.items() if c["drifted"]} == {"monthly_charges", "contract"}

    assert report.html.lstrip().lower().startswith(b"<html") or b"<html" in report.html[:2000]
    assert len(report.html) > 100_000
    json.dumps(report.json)  # serialisable as stored
