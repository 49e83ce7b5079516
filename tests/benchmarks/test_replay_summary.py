"""The replay's summary (benchmarks/replay_summary.py) from a made-up run of windows: onset,
lags, false retrains, the promoted model against the first champion, flags per feature."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_the_summary_counts_what_the_windows_showed(tmp_path, capsys):
    from replay_scenarios import build_regression
    from replay_summary import WindowRow, print_summary, summarise

    from driftloop.config.spec import load_spec

    spec = load_spec(build_regression(tmp_path, 200))
    feature = spec.features[0]

    def row(i, changed, served, version, serving, retrain=False, old=None, flags=()):
        return WindowRow(i, changed, 200, served, served + 10, old, [], list(flags), retrain,
                         version, serving, 100.0 + i, 10.0 * i, 10.0 * i + 2)  # fmt: skip

    rows = [row(0, False, 400, "1", "1", flags=[feature]), row(1, False, 400, "1", "1"),
            row(2, True, 600, "1", "1", retrain=True), row(3, True, 450, "2", "2", old=600),
            row(4, True, 440, "2", "2", old=620)]  # fmt: skip
    s = summarise(spec, "made-up", 200, "1", 400.0, rows, 9.0, [])
    assert (s.onset, s.decision_lag_windows, s.serving_lag_windows) == (2, 0, 1)
    assert (s.retrains, s.false_retrains, s.promotions) == (1, 0, 1)
    assert s.promoted_vs_old == [("2", 445.0, 610.0)]
    assert s.flag_rate_by_feature[feature] == 0.5 and s.estimate_mae == 10.0
    print_summary(s)
    out = capsys.readouterr().out
    assert "v2: rmse 445.0000 on the windows it answered; the first champion 610.0000" in out
