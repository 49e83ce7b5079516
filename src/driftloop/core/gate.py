"""The promotion gate: a challenger replaces the champion only if it is better."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from driftloop.core.metrics import is_better


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


def deciding_sets(recent_rows: int, min_recent_rows: int) -> tuple[str, ...]:
    """Which evaluation sets a retrain's challenger must win on: the newest held-out
    production rows (what it will serve) when there are at least ``min_recent_rows`` of
    them, and always those together with the dataset's test split (so a few noisy recent
    labels cannot promote a model that is worse on everything else)."""
    if not recent_rows:
        return (TEST,)
    return (RECENT, BOTH) if recent_rows >= min_recent_rows else (BOTH,)


def decide_on_sets(
    metric: str,
    versions: tuple[str, str | None],
    scores: dict[str, dict[str, Any]],
    deciding: dict[str, str],
    margin: float,
) -> GateDecision:
    """Promote only when the challenger wins on every deciding set. ``versions`` are the
    challenger's and the champion's; ``scores`` holds both models' scores and the rows of
    each set; ``deciding`` maps the deciding sets, in order, to their descriptions (the
    scores that decided are the decision's ``challenger_score``/``champion_score``: the
    first set's when it is promoted, else those of the first set it lost on)."""
    parts = [
        decide_promotion(metric, versions[0], scores[name]["challenger"], versions[1],
                         scores[name]["champion"], margin, int(scores[name]["rows"]), described)
        for name, described in deciding.items()
    ]  # fmt: skip
    decisive = next((p for p in parts if not p.promote), parts[0])
    return replace(
        decisive,
        promote=all(p.promote for p in parts),
        reason="; ".join(p.reason for p in parts),
        evaluation=" and ".join(deciding.values()),
        scores=scores,
    )
