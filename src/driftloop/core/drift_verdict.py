"""A feature's drift verdict and a window's summary: what every drift check returns.

A feature drifts when its distance (:mod:`driftloop.core.drift_distance`) reaches its
threshold (``score >= threshold``). On top of Evidently's distance, two signals Evidently does
not report also count as drift: the missing share moving by at least the threshold (absolute),
and at least a threshold's share of the current non-missing values being categories the
reference never had. In the calibrated mode a feature whose calibrated method matches decides
its distance by its own threshold (then, near it, by an exact permutation test:
:mod:`driftloop.core.drift_confirm`); the missing and unseen signals keep the fixed threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical"]
Method = Literal["wasserstein", "jensenshannon"]

WASSERSTEIN: Method = "wasserstein"
JENSEN_SHANNON: Method = "jensenshannon"

SIGNAL_DISTRIBUTION = "distribution"
SIGNAL_MISSING = "missing"
SIGNAL_NEW_CATEGORY = "new_category"
Mode = Literal["threshold", "calibrated"]
Test = Literal["permutation", "screened out"]
TEST_PERMUTATION: Test = "permutation"
TEST_SCREENED_OUT: Test = "screened out"


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict for one feature.

    ``score`` is the distance on non-missing values (None when a side has none);
    ``distribution_drifted`` is Evidently's verdict alone (``score >= threshold``), ``drifted``
    also counts a jump in missing share or a share of unseen categories; ``signals`` names
    which of the three fired.
    """

    feature: str
    kind: FeatureKind
    method: Method
    score: float | None
    threshold: float
    drifted: bool
    distribution_drifted: bool
    missing_share_ref: float
    missing_share_cur: float
    unseen_share: float
    signals: tuple[str, ...]
    mode: Mode = "threshold"
    """Which threshold decided ``distribution_drifted``: the fixed one or a calibrated one."""
    test: Test | None = None
    """Calibrated mode: what decided the distribution verdict. ``permutation``: the cached
    null screened the feature in and an exact permutation test on this window decided
    (``p_value <= alpha`` and ``score >= min_effect``); ``screened out``: the cached null's
    p-value was far from significant, the feature did not drift. None: ``threshold`` decided
    alone (threshold mode, a large streamed window, or no calibrated threshold)."""
    p_value: float | None = None
    """The permutation test's p-value (``permutation``) or the cached null's (``screened out``)."""
    permutations: int | None = None
    """Random splits the permutation test drew."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        out = asdict(self)
        out["signals"] = list(self.signals)
        return out


@dataclass(frozen=True)
class DriftSummary:
    """Drift verdicts for every checked feature of one window against the reference."""

    rows_reference: int
    rows_current: int
    threshold: float
    features: tuple[FeatureDrift, ...]
    drifted_features: tuple[str, ...]
    drift_share: float
    max_score: float
    mode: Mode = "threshold"
    prediction: FeatureDrift | None = None
    """The model's output (probability or value) against its output on the reference; not
    counted in ``drift_share``."""

    def feature(self, name: str) -> FeatureDrift:
        """The verdict for one feature (KeyError if it was not checked)."""
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "threshold": self.threshold,
            "features": [f.to_dict() for f in self.features],
            "drifted_features": list(self.drifted_features),
            "drift_share": self.drift_share,
            "max_score": self.max_score,
            "mode": self.mode,
            "prediction": self.prediction.to_dict() if self.prediction else None,
        }


def summarise(
    results: Sequence[FeatureDrift],
    rows_reference: int,
    rows_current: int,
    threshold: float,
    mode: Mode = "threshold",
) -> DriftSummary:
    """The window's summary from its per-feature verdicts."""
    drifted = tuple(f.feature for f in results if f.drifted)
    scores = [f.score for f in results if f.score is not None]
    return DriftSummary(
        rows_reference=rows_reference,
        rows_current=rows_current,
        threshold=threshold,
        features=tuple(results),
        drifted_features=drifted,
        drift_share=len(drifted) / len(results) if results else 0.0,
        max_score=max(scores) if scores else 0.0,
        mode=mode,
    )


def verdict(
    name: str,
    kind: FeatureKind,
    method: Method,
    score: float | None,
    threshold: float,
    own: tuple[str, float] | None,
    *,
    missing_ref: float,
    missing_cur: float,
    unseen: float,
) -> FeatureDrift:
    signals: list[str] = []
    mode: Mode = "threshold"
    cut = threshold
    if own is not None and own[0] == method:
        mode, cut = "calibrated", own[1]
    distribution_drifted = score is not None and score >= cut
    if distribution_drifted:
        signals.append(SIGNAL_DISTRIBUTION)
    if abs(missing_cur - missing_ref) >= threshold:
        signals.append(SIGNAL_MISSING)
    if unseen >= threshold:
        signals.append(SIGNAL_NEW_CATEGORY)
    return FeatureDrift(
        feature=name,
        kind=kind,
        method=method,
        score=score,
        threshold=cut,
        drifted=bool(signals),
        distribution_drifted=distribution_drifted,
        missing_share_ref=float(missing_ref),
        missing_share_cur=float(missing_cur),
        unseen_share=float(unseen),
        signals=tuple(signals),
        mode=mode,
    )
