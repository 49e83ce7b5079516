"""driftloop's own rule for when a window warrants a retrain.

Evidently's dataset flag (half of the columns drifted) misses two strongly drifted columns out
of twenty, and knows nothing of window size, repetition, model quality or how recently the
model was retrained. The decision here is made in two steps:

1. which *signals* fired on this window? — ``features`` (at least ``drift_share`` of the
   features drifted, or any of the ``key_features`` did), and the ones the check computed
   beside it: ``performance`` (the serving model scores worse than its test score on labelled
   rows), ``estimated_performance`` (the same, estimated without labels) and
   ``prediction_drift`` (the model's output moved). A signal counts towards a retrain only
   when the spec makes it a trigger (its ``trigger`` key);
2. does it warrant a *retrain*? — a triggering signal fired on each of the last
   ``consecutive_windows`` windows (this one included), the window has at least ``min_rows``
   rows (for the window-based signals; performance has its own ``min_labelled_rows``), the
   last retrain is at least ``cooldown_s`` seconds ago, and the model version that served the
   window is still the champion. A verdict about a replaced model is *superseded*: recorded,
   never acted on.

So a window can be drifted while the decision is still "no". Callers keep the history of the
signals that fired (``decision.alarms``, newest last) and pass it back in next time; a drifted
window below ``min_rows`` still counts towards the run of consecutive windows, since it is
evidence of drift even if too small to act on alone.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftloop.config.spec import SIGNALS, DriftPolicyConfig
from driftloop.core.drift_verdict import SIGNAL_DISTRIBUTION, DriftSummary
from driftloop.core.feature_family import holm_rejected

FEATURES = "features"
PERFORMANCE = "performance"
ESTIMATED_PERFORMANCE = "estimated_performance"
PREDICTION_DRIFT = "prediction_drift"
_WINDOW_SIGNALS = frozenset({FEATURES, PREDICTION_DRIFT})
"""Signals judged on the window's rows, so ``min_rows`` applies to them."""


@dataclass(frozen=True)
class SignalVerdict:
    """One signal's verdict on one window.

    ``signal`` is one of ``config.spec.SIGNALS``; ``trigger`` says whether the spec lets it
    start a retrain; ``details`` holds its figures (JSON-ready).
    """

    signal: str
    fired: bool
    trigger: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {"signal": self.signal, "fired": self.fired, "trigger": self.trigger,
                "reason": self.reason, "details": self.details}  # fmt: skip


History = Sequence["bool | RetrainDecision | Collection[str]"]
"""Earlier windows, newest last: their alarms (signal names), a decision, or a bare
features verdict (reports written before there were other signals)."""


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
    signals: tuple[SignalVerdict, ...] = ()
    """Every signal judged on this window (features first)."""
    alarms: tuple[str, ...] = ()
    """Signals that fired and are triggers: what the next window's streaks count."""
    triggered_by: tuple[str, ...] = ()
    """Alarms that met every rule (streak, rows); non-empty exactly when ``retrain``."""
    superseded: bool = False
    """The window was served by a model version that is no longer the champion."""
    served_version: str | None = None
    champion_version: str | None = None

    @property
    def fired(self) -> tuple[str, ...]:
        """Every signal that fired, trigger or not."""
        return tuple(v.signal for v in self.signals if v.fired)

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
            "signals": [v.to_dict() for v in self.signals],
            "fired": list(self.fired),
            "alarms": list(self.alarms),
            "triggered_by": list(self.triggered_by),
            "superseded": self.superseded,
            "served_version": self.served_version,
            "champion_version": self.champion_version,
        }


def features_verdict(
    policy: DriftPolicyConfig,
    summary: DriftSummary,
    p_values: Mapping[str, float] | None = None,
) -> SignalVerdict:
    """The feature-drift signal: enough features drifted, or a key feature did. In calibrated
    mode with the features' ``p_values`` the signal holds ``retrain_alpha`` per window
    (``core.feature_family``); otherwise each per-feature flag counts as it is."""
    if summary.mode == "calibrated" and p_values is not None:
        return _family_verdict(policy, summary, p_values)
    n_features = len(summary.features)
    n_drifted = len(summary.drifted_features)
    share_hit = n_features > 0 and summary.drift_share >= policy.drift_share
    pct = f"{summary.drift_share:.1%}"
    need = f"{round(policy.drift_share * 100, 2):g}%"
    cmp = ">=" if share_hit else "<"
    keys = tuple(k for k in policy.key_features if k in summary.drifted_features)
    reason = "; ".join(
        [f"{n_drifted}/{n_features} features drifted ({pct}) {cmp} {need}"]
        + [f"key feature {k} drifted" for k in keys]
    )
    return SignalVerdict(
        FEATURES,
        share_hit or bool(keys),
        policy.features_trigger,
        reason,
        {
            "drift_share": summary.drift_share,
            "key_features_drifted": list(keys),
            "mode": summary.mode,
            "rule": "per-feature flags",
        },  # fmt: skip
    )


def _family_verdict(
    policy: DriftPolicyConfig, summary: DriftSummary, p_values: Mapping[str, float]
) -> SignalVerdict:
    """The calibrated feature signal at ``retrain_alpha`` per window: only the features
    Holm's step-down keeps (and the missing/unseen limits) count for a retrain."""
    ra = policy.retrain_alpha
    held = set(holm_rejected(p_values, ra))
    counted = []
    for f in summary.features:
        fixed = [s for s in f.signals if s != SIGNAL_DISTRIBUTION]  # missing/unseen limits
        tested = f.feature in p_values
        if (not tested and f.drifted) or (f.distribution_drifted and f.feature in held) or fixed:
            counted.append(f.feature)
    n_features = len(summary.features)
    need = max(1, math.ceil(policy.drift_share * n_features - 1e-9))
    share_hit = n_features > 0 and len(counted) >= need
    keys = [k for k in policy.key_features if k in counted]
    reasons = [
        f"{len(summary.drifted_features)}/{n_features} features flagged at alpha "
        f"{policy.alpha:g}, {len(counted)} count at retrain_alpha {ra:g} (Holm) "
        f"{'>=' if share_hit else '<'} {need} needed"
    ]
    reasons += [f"key feature {k} drifted{_p_note(k, p_values)}" for k in keys]
    reasons += [
        f"key feature {k} flagged{_p_note(k, p_values)} but does not count at retrain_alpha"
        for k in policy.key_features
        if k in summary.drifted_features and k not in keys
    ]
    return SignalVerdict(
        FEATURES,
        share_hit or bool(keys),
        policy.features_trigger,
        "; ".join(reasons),
        {
            "drift_share": summary.drift_share,
            "key_features_drifted": keys,
            "mode": summary.mode,
            "rule": "holm",
            "retrain_alpha": ra,
            "counted_features": counted,
            "p_values": dict(p_values),
        },  # fmt: skip
    )


def _p_note(key: str, p_values: Mapping[str, float]) -> str:
    return f" (p {p_values[key]:.2g})" if key in p_values else ""


def _ready_signals(
    policy: DriftPolicyConfig,
    alarms: tuple[str, ...],
    past: list[frozenset[str]],
    features_fired: bool,
    big_enough: bool,
    reasons: list[str],
) -> tuple[tuple[str, ...], int]:
    """The alarms that met their consecutive-window streak (window signals only on a big
    enough window), and the features' own streak; the streak reasons go into ``reasons``."""
    streaks = {s: _streak([s in a for a in past] + [True]) for s in alarms}
    feature_streak = _streak([FEATURES in a for a in past] + [features_fired])
    if features_fired or policy.consecutive_windows > 1:
        shown = min(feature_streak, policy.consecutive_windows)
        reasons.append(f"{shown} of {policy.consecutive_windows} consecutive windows drifted")
    for s in alarms:
        if s != FEATURES and policy.consecutive_windows > 1:
            shown = min(streaks[s], policy.consecutive_windows)
            reasons.append(f"{s}: {shown} of {policy.consecutive_windows} consecutive windows")
    ready = tuple(
        s for s in alarms
        if streaks[s] >= policy.consecutive_windows and (big_enough or s not in _WINDOW_SIGNALS)
    )  # fmt: skip
    return ready, feature_streak


def decide_retrain(
    policy: DriftPolicyConfig,
    summary: DriftSummary,
    history: History = (),
    last_retrain_at: float | datetime | None = None,
    now: float | datetime | None = None,
    *,
    signals: Sequence[SignalVerdict] = (),
    served_version: str | None = None,
    champion_version: str | None = None,
    p_values: Mapping[str, float] | None = None,
) -> RetrainDecision:
    """Decide whether the window in ``summary`` warrants a retrain.

    ``history`` holds the earlier windows, newest last; ``signals`` the verdicts of the other
    signals on this window (features is judged here from ``summary``); ``last_retrain_at``
    and ``now`` are epoch seconds or aware datetimes, and ``now`` is required whenever
    ``last_retrain_at`` is given. ``served_version``/``champion_version``: the model that
    served the window and the champion now; when both are known and differ, the verdict is
    superseded. ``p_values``: the calibrated features' p-values on this window (calibrated
    mode), which hold the feature signal to ``retrain_alpha``.
    """
    feats = features_verdict(policy, summary, p_values)
    verdicts = (feats, *sorted(signals, key=lambda v: SIGNALS.index(v.signal)))
    reasons = [*feats.reason.split("; "), *(f"{v.signal}: {v.reason}" for v in verdicts[1:])]
    alarms = tuple(v.signal for v in verdicts if v.fired and v.trigger)
    big_enough = summary.rows_current >= policy.min_rows
    if not big_enough:
        reasons.append(f"window of {summary.rows_current} rows < min_rows {policy.min_rows}")
    ready, feature_streak = _ready_signals(
        policy, alarms, [_alarms(h) for h in history], feats.fired, big_enough, reasons
    )
    remaining = _cooldown_remaining(policy.cooldown_s, last_retrain_at, now)
    if remaining > 0:
        ago = policy.cooldown_s - remaining
        reasons.append(f"cool-down: last retrain {ago:.0f} s ago < {policy.cooldown_s:.0f} s")
    stale = superseded_reason(served_version, champion_version)
    superseded = stale is not None
    if stale is not None:
        reasons.append(stale)
    retrain = bool(ready) and remaining <= 0 and not superseded
    return RetrainDecision(
        retrain=retrain,
        window_drifted=feats.fired,
        reasons=tuple(reasons),
        rows=summary.rows_current,
        drifted_features=summary.drifted_features,
        drift_share=summary.drift_share,
        key_features_drifted=tuple(feats.details["key_features_drifted"]),
        consecutive_drifted=feature_streak,
        cooldown_remaining_s=max(remaining, 0.0),
        signals=verdicts,
        alarms=alarms,
        triggered_by=ready if retrain else (),
        superseded=superseded,
        served_version=served_version,
        champion_version=champion_version,
    )


def superseded_reason(
    served_version: str | None, champion_version: str | None, forced: bool = False
) -> str | None:
    """Why a verdict about a window served by ``served_version`` must start nothing now that
    ``champion_version`` is the champion (None: it still stands — either is unknown, they
    match, or the retrain was ``forced`` by hand)."""
    if forced or served_version is None or champion_version is None:
        return None
    if str(served_version) == str(champion_version):
        return None
    return (
        f"superseded: the window was served by v{served_version}, the champion is now "
        f"v{champion_version}; nothing is started"
    )


def alarms_of(decision: dict[str, Any]) -> frozenset[str]:
    """The alarms of a decision as stored in a report (older reports: the features verdict)."""
    if "alarms" in decision:
        return frozenset(str(a) for a in decision["alarms"])
    return frozenset({FEATURES}) if decision.get("window_drifted") else frozenset()


def _alarms(item: bool | RetrainDecision | Collection[str]) -> frozenset[str]:
    if isinstance(item, RetrainDecision):
        return frozenset(item.alarms)
    if isinstance(item, bool):
        return frozenset({FEATURES}) if item else frozenset()
    return frozenset(item)


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
