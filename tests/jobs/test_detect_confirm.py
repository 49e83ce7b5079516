"""A calibrated check through ``detect``'s own path (``judge_window``, ``record_check``): a
feature the cached null wrongly puts over its threshold is screened in and then *rejected* by
the exact permutation test; a shifted feature is confirmed; the rest are screened out; the
report (drift.json) and Evidently's per-feature thresholds say which test decided."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftloop.adapters.reports import read_report
from driftloop.adapters.store import ObjectStore
from driftloop.config.spec import DatasetSpec, load_spec
from driftloop.jobs.detect import Serving, judge_window, prepare_for, record_check
from driftloop.jobs.report_html import verdict_cuts

ROOT = Path(__file__).resolve().parents[2]
WRONG = "payment_method"
"""The feature whose cached threshold the test makes wrong (far too low)."""


@pytest.fixture()
def spec() -> DatasetSpec:
    base = load_spec(ROOT / "configs" / "telco.yaml")
    assert base.drift.mode == "calibrated"
    return base


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    telco = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    shuffled = telco.sample(frac=1.0, random_state=0).reset_index(drop=True)
    reference, current = shuffled.iloc[:3000].copy(), shuffled.iloc[3000:4000].copy()
    current["monthly_charges"] = current["monthly_charges"] * 1.5 + 20
    return reference.reset_index(drop=True), current.reset_index(drop=True)


def _spoil_cached_threshold(store: ObjectStore, feature: str) -> None:
    """Make one cached threshold claim that anything drifts (an approximate null gone wrong)."""
    root = Path(store.url.removeprefix("file://")) / "drift-cache" / "null"
    (entry,) = root.rglob("*.json")
    key = str(entry.relative_to(root.parent.parent))
    cached = store.read_json(key)
    cached[feature].update(threshold=0.0, quantile=0.0, tail_start=0.0, tail_scale=1e-9)
    store.write_json(key, cached)


def _judge(spec: DatasetSpec, store: ObjectStore, frames: tuple[pd.DataFrame, pd.DataFrame]):
    reference, current = frames
    started = time.perf_counter()
    result = judge_window(spec, store, None, (reference, prepare_for(spec, reference)), current,
                          Serving(None, None, from_file=True), started)  # fmt: skip
    record_check(store, spec, result, frames, "never", started)
    return result


def test_the_exact_test_rejects_a_wrongly_screened_feature_and_confirms_a_shift(
    spec: DatasetSpec, tmp_path: Path
) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    frames = _frames()
    first = _judge(spec, store, frames)  # calibrates and caches the thresholds
    assert first.summary is not None
    assert first.summary.feature(WRONG).test == "screened out"
    _spoil_cached_threshold(store, WRONG)

    result = _judge(spec, store, frames)
    assert result.summary is not None and result.decision is not None
    wrong = result.summary.feature(WRONG)
    assert wrong.score is not None and wrong.score >= wrong.threshold  # the old rule: drift
    assert wrong.test == "permutation" and not wrong.distribution_drifted
    assert wrong.p_value is not None and wrong.p_value > spec.drift.alpha
    shifted = result.summary.feature("monthly_charges")
    assert shifted.test == "permutation" and shifted.drifted
    assert shifted.p_value is not None and shifted.p_value <= spec.drift.retrain_alpha / 19
    assert shifted.permutations is not None and shifted.permutations >= 19000
    assert result.summary.drifted_features == ("monthly_charges",)
    # Holm takes the exact p-values; the key feature counts, the spoiled one does not
    family = result.decision.signals[0].details
    assert family["rule"] == "holm"
    assert family["p_values"][WRONG] == wrong.p_value
    assert family["p_values"]["monthly_charges"] == shifted.p_value
    assert "monthly_charges" in family["counted_features"] and result.retrain

    report = read_report(store, str(result.report_id))
    entries = {f["feature"]: f for f in report["summary"]["features"]}
    assert entries[WRONG]["test"] == "permutation" and entries[WRONG]["drifted"] is False
    assert entries[WRONG]["permutations"] == wrong.permutations
    screened = [f for f in entries.values() if f["test"] == "screened out"]
    assert screened and all(not f["distribution_drifted"] for f in screened)
    # Evidently is given thresholds that reproduce the verdicts
    cached = {k: float(v["threshold"]) for k, v in report["calibration"]["thresholds"].items()}
    cuts = verdict_cuts(report["summary"]["features"], cached)
    assert cuts[WRONG] > wrong.score and cached[WRONG] == 0.0
    assert cuts["monthly_charges"] <= shifted.score
    assert np.isclose(cuts["tenure"], cached["tenure"])
