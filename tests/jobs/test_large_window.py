"""A streamed window gives the exact statistics' verdicts on the same rows, on file:// and on
S3 (moto): batches read in parallel, the oldest batch cut to the newest rows, segments of
another version left out."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    new_segment_id,
    read_inference_log,
    segment_key,
)
from driftloop.adapters.store import ObjectStore
from driftloop.core.drift_reference import prepare_reference
from driftloop.jobs import large_window

NUMERIC, CATEGORICAL = ["amount", "tenure", "code"], ["plan"]
SCORE_TOLERANCE = 1e-3
"""The sketch's stated tolerance on a Wasserstein score (core/drift_sketch)."""


@pytest.fixture()
def store(file_or_s3_store: ObjectStore) -> ObjectStore:
    return file_or_s3_store


def rows(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    frame = pd.DataFrame({
        "amount": rng.lognormal(3 + shift, 0.5, n),
        "tenure": rng.integers(0, 72, n).astype(float),
        "code": rng.integers(0, 3, n).astype(float),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
    })  # fmt: skip
    frame.loc[rng.random(n) < 0.03, "amount"] = np.nan
    return frame


def write_log(store: ObjectStore, segments: int, per_segment: int) -> None:
    """Segments over three days, the newer half shifted; every fifth one from version 2."""
    rng = np.random.default_rng(11)
    start = datetime(2026, 4, 1, tzinfo=UTC)
    for n in range(segments):
        first = start + timedelta(hours=n * 72 / segments)
        frame = rows(rng, per_segment, 0.4 if n >= segments // 2 else 0.0)
        frame.insert(0, "model_version", "2" if n % 5 == 4 else "1")
        frame.insert(0, "ts", [first + timedelta(milliseconds=i) for i in range(per_segment)])
        store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)), frame)


@pytest.mark.parametrize("window_rows", [1_000_000, 3_150])
def test_streamed_window_has_the_exact_verdicts(store, monkeypatch, window_rows):
    monkeypatch.setattr(large_window, "BATCH_SEGMENTS", 4)
    write_log(store, segments=30, per_segment=200)
    reference = prepare_reference(rows(np.random.default_rng(5), 4000, 0.0), NUMERIC,
                                  CATEGORICAL, 0.1)  # fmt: skip
    sketch, window = large_window.stream_window(store, reference, window_rows, "1")
    current = read_inference_log(store, limit_rows=window_rows, model_version="1")
    assert window.rows == len(current) == min(window_rows, 24 * 200)
    assert window.start == current["ts"].min().isoformat()
    assert window.end == current["ts"].max().isoformat()
    exact, streamed = reference.compare(current), sketch.summary()
    assert streamed.drifted_features == exact.drifted_features
    assert streamed.drifted_features  # the shifted half is in both windows
    for e, s in zip(exact.features, streamed.features, strict=True):
        assert (s.feature, s.method, s.signals) == (e.feature, e.method, e.signals)
        assert s.missing_share_cur == pytest.approx(e.missing_share_cur, abs=1e-12)
        tolerance = SCORE_TOLERANCE if e.method == "wasserstein" else 1e-12
        assert s.score == pytest.approx(e.score, abs=tolerance)


def test_an_empty_log_is_an_empty_window(tmp_path):
    store = ObjectStore((tmp_path / "store").as_uri())
    reference = prepare_reference(pd.DataFrame({"x": [1.0, 2.0]}), ["x"], [], 0.1)
    sketch, window = large_window.stream_window(store, reference, 500_000, "1")
    assert (window.rows, window.start, window.end, sketch.rows) == (0, None, None, 0)


def test_a_calibrated_streamed_window_decides_with_thresholds_at_its_own_size(tmp_path):
    """Telco's calibrated spec on a streamed window: every feature's threshold is calibrated
    at the rows the window turned out to have (not the rows asked for), the verdicts are the
    cached null's on the same rows, and their p-values reach Holm's rule."""
    from pathlib import Path

    from driftloop.config.spec import load_spec
    from driftloop.jobs.detect import Serving, calibrated_reference, prepare_for, window_thresholds

    root = Path(__file__).resolve().parents[2]
    spec = load_spec(root / "configs" / "telco.yaml")
    assert spec.drift.mode == "calibrated"
    telco = pd.read_csv(root / "data" / "telco_churn.csv").sample(frac=1.0, random_state=1)
    reference = telco.iloc[:3000].reset_index(drop=True)
    logged = telco.iloc[3000:5000].reset_index(drop=True)
    logged["monthly_charges"] = logged["monthly_charges"] * 1.5 + 20
    store = ObjectStore((tmp_path / "store").as_uri())
    start = datetime(2026, 4, 1, tzinfo=UTC)
    for n in range(4):
        part = logged.iloc[n * 500 : (n + 1) * 500][list(spec.features)].copy()
        first = start + timedelta(minutes=n)
        part.insert(0, "model_version", "1")
        part.insert(0, "ts", [first + timedelta(milliseconds=i) for i in range(len(part))])
        store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)), part)
    prepared = (reference, prepare_for(spec, reference))
    result = large_window.detect_streamed(spec, store, prepared, 1_000_000, Serving(None, None),
                                          time.perf_counter())  # fmt: skip
    assert result.window.rows == 2000 and result.summary is not None
    assert result.summary.mode == "calibrated"
    expected = window_thresholds(spec, store, reference, 2000)
    assert expected and result.thresholds == expected
    for f in result.summary.features:
        if f.feature in expected:
            assert f.mode == "calibrated" and f.threshold == expected[f.feature].threshold
    current = read_inference_log(store, limit_rows=2000, model_version="1")
    exact = calibrated_reference(spec, prepare_for(spec, reference), expected).compare(current)
    assert result.summary.drifted_features == exact.drifted_features
    assert "monthly_charges" in exact.drifted_features
    assert result.decision is not None
    features_signal = next(s for s in result.decision.signals if s.signal == "features")
    assert features_signal.details["rule"] == "holm"
    assert "monthly_charges" in features_signal.details["counted_features"]
