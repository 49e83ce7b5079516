"""The promotion gate: a challenger replaces the champion only if it is better."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from driftloop.core.metrics import is_better
from driftloop.core.paired_bootstrap import ImprovementInterval


@dataclass(frozen=True)
class GateDecision:
    """Both scores on the same evaluation data, and the verdict."""

    metric: str
    challenger_version: str
    champion_version: str | None
    challenger_score: float
    champion_score: float | None
    margin: float
    evaluation_rows: int
    promote: bool
    reason: str
    evaluation: str = ""
    """Which rows decided (e.g. the newest held-out production rows)."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Both models' scores on each evaluation set: {set: {challenger, champion, rows}}."""
    interval: dict[str, Any] | None = None
    """The paired bootstrap of the improvement on the first deciding set (``None``: the rule
    compared point estimates only, or there was no champion)."""
    rule: str = ""
    """The rule that decided, in words."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def decide_promotion(
    metric: str,
    challenger_version: str,
    challenger_score: float,
    champion_version: str | None,
    champion_score: float | None,
    margin: float,
    evaluation_rows: int,
    evaluation: str = "",
    scores: dict[str, dict[str, Any]] | None = None,
) -> GateDecision:
    """Promote when there is no champion, or the challenger wins by more than the margin
    (on the ``evaluation`` rows; ``scores`` records every set both were scored on)."""
    if champion_version is None or champion_score is None:
        promote, reason = True, "no champion to beat"
    elif is_better(metric, challenger_score, champion_score, margin):
        promote = True
        reason = (
            f"challenger {metric} {challenger_score:.4f} beats champion "
            f"{champion_score:.4f} by more than {margin:g}"
        )
    else:
        promote = False
        reason = (
            f"challenger {metric} {challenger_score:.4f} does not beat champion "
            f"{champion_score:.4f} by more than {margin:g}"
        )
    if evaluation:
        reason += f" on {evaluation}"
    return GateDecision(
        metric,
        challenger_version,
        champion_version,
        challenger_score,
        champion_score,
        margin,
        evaluation_rows,
        promote,
        reason,
        evaluation,
        scores or {},
    )


RECENT = "recent"
TEST = "test"
BOTH = "recent+test"


def deciding_sets(recent_rows: int, min_recent_rows: int, confident: bool) -> tuple[str, ...]:
    """Which evaluation sets a retrain's challenger must win on. With at least
    ``min_recent_rows`` newest held-out production rows (what it will serve) and the
    confidence rule on (``confident``), a confident win there decides alone: after a real
    change the test split is the old world, where a model of the new one may rightly lose.
    Without the confidence rule those rows must be won together with the test split too (so
    a few noisy recent labels cannot promote a model that is worse on everything else); with
    fewer recent rows, they and the test split together decide; with none, the test split."""
    if not recent_rows:
        return (TEST,)
    if recent_rows < min_recent_rows:
        return (BOTH,)
    return (RECENT,) if confident else (RECENT, BOTH)


def decide_on_sets(
    metric: str,
    versions: tuple[str, str | None],
    scores: dict[str, dict[str, Any]],
    deciding: dict[str, str],
    margin: float,
    interval: ImprovementInterval | None = None,
) -> GateDecision:
    """Promote only when the challenger wins on every deciding set and, when an ``interval``
    is given (the paired bootstrap on the first deciding set), the lower bound of its
    improvement clears the margin too. ``versions`` are the challenger's and the champion's;
    ``scores`` holds both models' scores and the rows of each set; ``deciding`` maps the
    deciding sets, in order, to their descriptions (the scores that decided are the
    decision's ``challenger_score``/``champion_score``: the first set's when it is promoted,
    else those of the first set it lost on)."""
    parts = [
        decide_promotion(metric, versions[0], scores[name]["challenger"], versions[1],
                         scores[name]["champion"], margin, int(scores[name]["rows"]), described)
        for name, described in deciding.items()
    ]  # fmt: skip
    first = next(iter(deciding))
    rule = f"better by more than {margin:g} on " + " and ".join(deciding.values())
    promote, reasons = all(p.promote for p in parts), [p.reason for p in parts]
    if interval is not None and versions[1] is not None:
        rule += (
            f", and the {interval.confidence:.0%} lower bound of the paired bootstrap "
            f"improvement ({interval.draws} draws) on {deciding[first]} above {margin:g}"
        )
        confident = interval_clears(interval, margin)
        promote = promote and confident
        reasons.append(_interval_reason(metric, interval, margin, confident))
        if not confident and all(p.promote for p in parts):
            parts.insert(0, replace(parts[0], promote=False))  # the interval's set decided
    decisive = next((p for p in parts if not p.promote), parts[0])
    return replace(
        decisive,
        promote=promote,
        reason="; ".join(reasons),
        evaluation=" and ".join(deciding.values()),
        scores=scores,
        interval=interval.to_dict() if interval is not None else None,
        rule=rule,
    )


def interval_clears(interval: ImprovementInterval, margin: float) -> bool:
    """The lower bound of the improvement is defined and above the margin."""
    return bool(np.isfinite(interval.lower_bound) and interval.lower_bound > margin)


def _interval_reason(
    metric: str, interval: ImprovementInterval, margin: float, confident: bool
) -> str:
    verdict = "above" if confident else "not above"
    return (
        f"{interval.confidence:.0%} lower bound of the {metric} improvement "
        f"{interval.lower_bound:+.4f} (point {interval.improvement:+.4f}, "
        f"{interval.rows} rows, {interval.draws} paired draws) {verdict} {margin:g}"
    )


def interval_text(interval: Mapping[str, Any]) -> str:
    """A recorded improvement interval in one line (CLI, ``status``, dashboard)."""

    def num(key: str) -> str:
        v = interval.get(key)
        return "-" if v is None else f"{float(v):+.4f}"

    return (f"improvement {num('improvement')}, {float(interval.get('confidence') or 0):.0%} "
            f"lower bound {num('lower_bound')} ({interval.get('draws')} paired draws of "
            f"{interval.get('rows')} rows)")  # fmt: skip
