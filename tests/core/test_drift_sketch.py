"""Per-segment window summaries merge to the verdicts of the exact statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.core.drift_reference import prepare_reference
from driftloop.core.drift_sketch import new_sketch

NUMERIC = ["amount", "tenure", "code"]
CATEGORICAL = ["plan"]
SCORE_TOLERANCE = 1e-3
"""The stated tolerance of a sketched Wasserstein score (core/drift_sketch)."""


def frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    data = pd.DataFrame({
        "amount": rng.lognormal(3 + shift, 0.5, n),  # continuous: quantile bins
        "tenure": rng.integers(0, 72, n).astype(float) + round(shift * 10),  # discrete
        "code": rng.integers(0, 3, n).astype(float),  # low cardinality: value counts
        "plan": rng.choice(["basic", "plus", "pro", "new"], n,
                           p=[0.5, 0.3, 0.2 - shift / 5, shift / 5]),
    })  # fmt: skip
    data.loc[rng.random(n) < 0.02 + shift / 10, "amount"] = np.nan
    return data


def sketched(reference, current: pd.DataFrame, parts: int):
    total = new_sketch(reference)
    for chunk in np.array_split(np.arange(len(current)), parts):
        part = new_sketch(reference)
        part.add(current.iloc[chunk])
        total.merge(part)
    return total.summary()


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("calibrated", [None, {"amount": ("wasserstein", 0.15)}])
def test_merged_segments_give_the_exact_verdicts(shift, calibrated):
    rng = np.random.default_rng(7)
    reference = prepare_reference(frame(rng, 8000, 0.0), NUMERIC, CATEGORICAL, 0.1,
                                  calibrated, min_category_rows=50)  # fmt: skip
    current = frame(rng, 60_000, shift)
    exact, merged = reference.compare(current), sketched(reference, current, parts=37)
    assert merged.drifted_features == exact.drifted_features
    assert merged.drift_share == exact.drift_share
    assert merged.rows_current == exact.rows_current and merged.mode == exact.mode
    for e, m in zip(exact.features, merged.features, strict=True):
        assert (m.feature, m.method, m.drifted, m.signals) == (e.feature, e.method, e.drifted,
                                                               e.signals)  # fmt: skip
        assert m.missing_share_cur == pytest.approx(e.missing_share_cur, abs=1e-12)
        assert m.unseen_share == pytest.approx(e.unseen_share, abs=1e-12)
        tolerance = SCORE_TOLERANCE if e.method == "wasserstein" else 1e-12
        assert m.score == pytest.approx(e.score, abs=tolerance)


def test_values_outside_the_reference_range_count_exactly():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
    reference = prepare_reference(ref, ["x"], [], 0.1)
    current = pd.DataFrame({"x": rng.normal(6, 1, 20_000)})  # mostly above the reference
    exact, merged = reference.compare(current), sketched(reference, current, parts=5)
    assert merged.features[0].score == pytest.approx(exact.features[0].score, abs=1e-3)
    assert merged.features[0].drifted


def test_an_empty_window_is_refused():
    reference = prepare_reference(pd.DataFrame({"x": [1.0, 2.0]}), ["x"], [], 0.1)
    with pytest.raises(ValueError, match="no rows"):
        new_sketch(reference).summary()
