"""The replay's figures: what each window showed, the scenario's summary computed from the
windows (onset, lags, false retrains, promotions against the first champion, the estimate's
error, per-feature false flags), and the Rich tables that print them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from replay_retrains import outcome_line


@dataclass
class WindowRow:
    """What one window showed."""

    index: int
    changed: bool
    rows: int
    served: float | None
    estimated: float | None
    old_champion: float | None
    signals: list[str]
    drifted_features: list[str]
    retrain: bool
    version: str
    """The version that answered the window."""
    serving: str
    """The version serving once the window's check was done."""
    serving_since: float
    sent_at: float
    checked_at: float


@dataclass
class ReplaySummary:
    """The figures of one scenario."""

    scenario: str
    windows: int
    rows: int
    metric: str
    test_score: float | None
    tolerance: float
    onset: int | None
    decision_lag_windows: int | None
    decision_lag_s: float | None
    serving_lag_windows: int | None
    serving_lag_s: float | None
    retrains: int
    false_retrains: int
    promotions: int
    promoted_vs_old: list[tuple[str, float | None, float | None]]
    estimate_mae: float | None
    feature_flag_rate: float | None
    flag_rate_by_feature: dict[str, float]
    seconds: float
    rows_detail: list[WindowRow] = field(default_factory=list)
    retrain_outcomes: list[dict[str, Any]] = field(default_factory=list)


def summarise(
    spec: Any, scenario: str, window_rows: int, first_version: str, test_score: float | None,
    rows: list[WindowRow], seconds: float, outcomes: list[dict[str, Any]],
) -> ReplaySummary:  # fmt: skip
    """The scenario's figures from its windows (``first_version``: the first champion)."""
    from driftloop.core.performance import degradation

    metric, perf = spec.metric, spec.drift.performance
    relative = perf.tolerance_kind == "relative"
    onset = next((r.index for r in rows if r.served is not None and test_score
                  is not None and degradation(metric, test_score, r.served, relative)
                  > perf.tolerance), None)  # fmt: skip
    first_change = next((r.index for r in rows if r.changed), None)
    start = onset if onset is not None else first_change
    decided = next((r for r in rows if r.retrain and start is not None
                    and r.index >= start), None)  # fmt: skip
    served = next((r for r in rows if r.serving != first_version and decided
                   is not None and r.index >= decided.index), None)  # fmt: skip
    t0 = rows[start].sent_at if start is not None else None
    versions = sorted({r.version for r in rows if r.version != first_version}, key=int)
    promoted = []
    for v in versions:
        mine = [r for r in rows if r.version == v and r.served is not None]
        new = [r.served for r in mine if r.served is not None]
        old = [r.old_champion for r in mine if r.old_champion is not None]
        promoted.append((v, float(np.mean(new)) if new else None,
                         float(np.mean(old)) if old else None))  # fmt: skip
    errors = [abs(r.estimated - r.served) for r in rows
              if r.estimated is not None and r.served is not None]  # fmt: skip
    still = [r for r in rows if not r.changed]
    feats = list(spec.features)
    by_feature = {f: sum(f in r.drifted_features for r in still) / len(still)
                  for f in feats} if still else {}  # fmt: skip
    return ReplaySummary(
        scenario, len(rows), window_rows, metric, test_score, perf.tolerance,
        onset, None if decided is None or start is None else decided.index - start,
        None if decided is None or t0 is None else decided.checked_at - t0,
        None if served is None or start is None else served.index - start,
        None if served is None or t0 is None else served.serving_since - t0,
        sum(r.retrain for r in rows), sum(r.retrain and not r.changed for r in rows),
        len({r.serving for r in rows} - {first_version}), promoted,
        float(np.mean(errors)) if errors else None,
        float(np.mean(list(by_feature.values()))) if by_feature else None,
        by_feature, seconds, rows, outcomes,
    )  # fmt: skip


def print_summary(s: ReplaySummary) -> None:
    """The scenario's windows and figures as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    def f(v: float | None, d: int = 4) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    t = Table(title=f"{s.scenario}: {s.windows} windows of {s.rows} rows, {s.metric} "
              f"(test {f(s.test_score)}, tolerance {s.tolerance:g})")  # fmt: skip
    for col in (
        "window",
        "change",
        "rows",
        f"served {s.metric}",
        f"estimated {s.metric}",
        "old champion",
        "signals",
        "decision",
        "answered by",
        "serving",
    ):
        t.add_column(col)
    for r in s.rows_detail:
        t.add_row(str(r.index), "yes" if r.changed else "-", str(r.rows), f(r.served),
                  f(r.estimated), f(r.old_champion), ", ".join(r.signals) or "-",
                  "retrain" if r.retrain else "-", f"v{r.version}", f"v{r.serving}")  # fmt: skip
    console = Console(width=160)
    console.print(t)
    worst = max(s.flag_rate_by_feature.items(), key=lambda kv: kv[1], default=("-", 0.0))
    lines = [
        f"degradation onset: window {s.onset}"
        if s.onset is not None
        else "degradation onset: none (served metric within tolerance throughout)",
        f"lag to retrain decision: {s.decision_lag_windows} windows, {f(s.decision_lag_s, 1)} s",
        f"lag to new version serving: {s.serving_lag_windows} windows, {f(s.serving_lag_s, 1)} s",
        f"retrain decisions: {s.retrains} (false: {s.false_retrains}); promotions: {s.promotions}",
        *(
            f"v{v}: {s.metric} {f(new)} on the windows it answered; the first champion "
            f"{f(old)} on the same rows"
            for v, new, old in s.promoted_vs_old
        ),
        f"estimate vs served {s.metric}: mean absolute error {f(s.estimate_mae)}",
        f"feature false flags on unchanged windows: {f(s.feature_flag_rate, 3)} per feature "
        f"per window (worst: {worst[0]} {worst[1]:.3f})",
        *(outcome_line(o) for o in s.retrain_outcomes),
        f"wall time {s.seconds:.0f} s",
    ]
    for line in lines:
        console.print("  " + line)
