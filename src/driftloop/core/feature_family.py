"""The feature signal's own false-alarm rate. Per-feature flags at ``alpha`` are right for
reporting, but a retrain decided on "any of k key features drifted" at ``alpha`` each fires on
a healthy window with probability ~k*alpha, and over dozens of windows a false retrain is then
likely; correlated features (telco's internet add-ons move together) make the share rule fire
together as well. In calibrated mode the decision is held to ``retrain_alpha`` per window
instead: Holm's step-down over every calibrated feature's p-value (the exact permutation
test's for the features the screen passed, ``core.drift_confirm``; the no-drift distribution's
fitted tail for the rest) at ``retrain_alpha`` says which features *count* for a retrain —
a key feature among them, or at least ``drift_share`` of the features, fires the signal.
Holm holds its family-wise rate under any dependence between the features.

Pure: numbers in, names out.
"""

from __future__ import annotations

from collections.abc import Mapping


def holm_rejected(p_values: Mapping[str, float], alpha: float) -> tuple[str, ...]:
    """The names Holm's step-down rejects at family-wise rate ``alpha``: the smallest p must
    be at most ``alpha / k``, the next ``alpha / (k - 1)``, and so on (smallest p first)."""
    ranked = sorted(p_values.items(), key=lambda kv: (kv[1], kv[0]))
    k = len(ranked)
    out: list[str] = []
    for i, (name, p) in enumerate(ranked):
        if p > alpha / (k - i):
            break
        out.append(name)
    return tuple(out)
