"""driftloop's own rule for when a drifted window warrants a retrain.

Evidently's dataset flag (half of the columns drifted) misses two strongly drifted columns out
of twenty, and knows nothing of window size, repetition or how recently the model was
retrained. The decision here is made in two steps:

1. is this *window* drifted? — at least ``drift_share`` of the features drifted, or any of the
   ``key_features`` did;
2. does it warrant a *retrain*? — the window is drifted and has at least ``min_rows`` rows, the
   last ``consecutive_windows`` windows (this one included) were all drifted, and the last
   retrain is at least ``cooldown_s`` seconds ago.

So a window can be drifted while the decision is still "no". Callers keep the history of
window verdicts (``decision.window_drifted``, newest last) and pass it back in next time; a
drifted window below ``min_rows`` still counts towards the run of consecutive windows, since
it is evidence of drift even if too small to act on alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftloop.config.spec import DriftPolicyConfig
from driftloop.core.drift_stats import DriftSummary


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain after one window, with the facts that led there."""

    retrain: bool
    window_drifted: bool
    reasons: tuple[str, ...]
    rows: int
    drifted_features: tuple[str, ...]
    drift_share: float
    key_features_drifted: tuple[str, ...]
    consecutive_drifted: int
    cooldown_remaining_s: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "retrain": self.retrain,
            "window_drifted": self.window_drifted,
            "reasons": list(self.reasons),
            "rows": self.rows,
            "drifted_features": list(self.drifted_features),
            "drift_share": self.drift_share,
            "key_features_drifted": list(self.key_features_drifted),
            "consecutive_drifted": self.consecutive_drifted,
            "cooldown_remaining_s": self.cooldown_remaining_s,
        }


def decide_retrain(
    policy: DriftPolicyConfig,
    summary: DriftSummary,
    history: Sequence[bool | RetrainDecision] = (),
    last_retrain_at: float | datetime | None = None,
    now: float | datetime | None = None,
) -> RetrainDecision:
    """Decide whether the window in ``summary`` warrants a retrain.

    ``history`` holds the verdicts of the earlier windows, newest last (booleans or earlier
    decisions); ``last_retrain_at`` and ``now`` are epoch seconds or aware datetimes, and
    ``now`` is required whenever ``last_retrain_at`` is given.
    """
    reasons: list[str] = []
    n_features = len(summary.features)
    n_drifted = len(summary.drifted_features)
    share_hit = n_features > 0 and summary.drift_share >= policy.drift_share
    pct = f"{summary.drift_share:.1%}"
    need = f"{round(policy.drift_share * 100, 2):g}%"
    if share_hit:
        reasons.append(f"{n_drifted}/{n_features} features drifted ({pct}) >= {need}")
    else:
        reasons.append(f"{n_drifted}/{n_features} features drifted ({pct}) < {need}")
    keys = tuple(k for k in policy.key_features if k in summary.drifted_features)
    reasons.extend(f"key feature {k} drifted" for k in keys)
    window_drifted = share_hit or bool(keys)

    big_enough = summary.rows_current >= policy.min_rows
    if not big_enough:
        reasons.append(f"window of {summary.rows_current} rows < min_rows {policy.min_rows}")

    streak = _streak([*(_verdict(h) for h in history), window_drifted])
    enough_in_row = streak >= policy.consecutive_windows
    if window_drifted or policy.consecutive_windows > 1:
        shown = min(streak, policy.consecutive_windows)
        reasons.append(f"{shown} of {policy.consecutive_windows} consecutive windows drifted")

    remaining = _cooldown_remaining(policy.cooldown_s, last_retrain_at, now)
    if remaining > 0:
        ago = policy.cooldown_s - remaining
        reasons.append(f"cool-down: last retrain {ago:.0f} s ago < {policy.cooldown_s:.0f} s")

    retrain = window_drifted and big_enough and enough_in_row and remaining <= 0
    return RetrainDecision(
        retrain=retrain,
        window_drifted=window_drifted,
        reasons=tuple(reasons),
        rows=summary.rows_current,
        drifted_features=summary.drifted_features,
        drift_share=summary.drift_share,
        key_features_drifted=keys,
        consecutive_drifted=streak,
        cooldown_remaining_s=max(remaining, 0.0),
    )


def _verdict(item: bool | RetrainDecision) -> bool:
    return item.window_drifted if isinstance(item, RetrainDecision) else bool(item)


def _streak(verdicts: Sequence[bool]) -> int:
    count = 0
    for drifted in reversed(verdicts):
        if not drifted:
            break
        count += 1
    return count


def _seconds(t: float | datetime) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def _cooldown_remaining(
    cooldown_s: float, last: float | datetime | None, now: float | datetime | None
) -> float:
    if last is None:
        return 0.0
    if now is None:
        raise ValueError("now is required when last_retrain_at is given")
    elapsed = _seconds(now) - _seconds(last)
    return cooldown_s - elapsed
