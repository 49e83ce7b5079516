"""How sure is the gate that the challenger is better? A paired bootstrap of the metric
difference on the same rows.

Both models' outputs on one labelled set are resampled *jointly* (the same draw of rows for
both, so what the rows have in common — easy or hard rows — cancels), every draw scored at
once with weighted metrics (``core.performance.weighted_metric``), and the improvement
``challenger - champion`` (reversed for a loss) taken per draw. The gate's rule needs the
``1 - confidence`` quantile of those improvements — a one-sided lower bound — to clear the
margin. Pure: labels and outputs in, an interval out; seeded, so the same rows always give
the same verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from driftloop.config.spec import LOWER_IS_BETTER
from driftloop.core.performance import weighted_metric

_CELLS_PER_CHUNK = 2_000_000
"""Draws x rows scored at once (bounds the weight matrix's memory at ~16 MB)."""


@dataclass(frozen=True)
class PairedOutputs:
    """Both models' outputs on the same labelled rows, each with its decision threshold."""

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    thresholds: tuple[float, float] = (0.5, 0.5)


@dataclass(frozen=True)
class ImprovementInterval:
    """The challenger's improvement over the champion on one set, with its lower bound."""

    evaluation: str
    """Which set was resampled (a ``core.gate`` set name)."""
    rows: int
    improvement: float
    """Point estimate, in the metric's better direction (positive = the challenger is better)."""
    lower_bound: float
    confidence: float
    draws: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (an undefined bound as None)."""
        out = asdict(self)
        for key in ("improvement", "lower_bound"):
            out[key] = float(out[key]) if np.isfinite(out[key]) else None
        return out


def improvement(metric: str, challenger: Any, champion: Any) -> Any:
    """How much better the challenger scores (positive = better), in the metric's direction."""
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def improvement_interval(
    metric: str,
    outputs: PairedOutputs,
    confidence: float,
    draws: int,
    seed: int,
    evaluation: str = "",
) -> ImprovementInterval:
    """The paired bootstrap of ``challenger - champion`` on ``outputs``' rows (``draws``
    resamples, seeded): its point estimate and one-sided lower bound at ``confidence``."""
    y = np.asarray(outputs.y, dtype=float)
    ours = np.asarray(outputs.challenger, dtype=float)
    theirs = np.asarray(outputs.champion, dtype=float)
    n = len(y)
    t_ours, t_theirs = outputs.thresholds
    full = np.ones((1, n))
    point = improvement(metric, weighted_metric(metric, y, ours, full, t_ours),
                        weighted_metric(metric, y, theirs, full, t_theirs))[0]  # fmt: skip
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS_PER_CHUNK // max(n, 1))
    diffs = []
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
        diffs.append(improvement(metric, weighted_metric(metric, y, ours, w, t_ours),
                                 weighted_metric(metric, y, theirs, w, t_theirs)))  # fmt: skip
    d = np.concatenate(diffs) if diffs else np.array([np.nan])
    bound = float(np.nanquantile(d, 1.0 - confidence)) if np.isfinite(d).any() else np.nan
    return ImprovementInterval(evaluation, n, float(point), bound, confidence, draws, seed)
