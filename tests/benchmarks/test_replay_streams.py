"""The replay benchmark's streams (benchmarks/replay_scenarios.py): which windows change, and
how. The replay itself runs a real server for minutes and is run by hand, not here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


@pytest.fixture()
def spec(tmp_path):
    from replay_scenarios import build_regression

    from driftloop.config.spec import load_spec

    return load_spec(build_regression(tmp_path, 200))


def test_streams_change_from_the_onset_the_way_the_scenario_says(spec):
    from replay_scenarios import SCENARIOS, stream

    pool = pd.read_csv(spec.source)
    plain = list(stream(pool, spec, SCENARIOS["highcard-stationary"], 6, 200))
    assert not any(w.changed for w in plain) and all(len(w.frame) == 200 for w in plain)
    concept = list(stream(pool, spec, SCENARIOS["regression-concept"], 8, 200, seed=3))
    assert [w.changed for w in concept] == [False] * 4 + [True] * 4
    after, before = concept[5].frame, concept[1].frame
    # the same kind of bookings, dearer: features alike, targets up
    assert abs(after["nights"].mean() - before["nights"].mean()) < 1.0
    assert after["price"].mean() > before["price"].mean() + 0.3 * pool["price"].std()


def test_gradual_stream_grows_after_the_onset(spec):
    from replay_scenarios import SCENARIOS, stream

    pool = pd.read_csv(spec.source)
    windows = list(stream(pool, spec, SCENARIOS["telco-gradual"], 9, 300, seed=1))
    means = [float(pd.to_numeric(w.frame["nights"]).mean()) for w in windows]
    assert [w.changed for w in windows] == [False] * 3 + [True] * 6
    assert np.all(np.diff(means[3:]) > 0) and means[-1] > 1.4 * means[0]
