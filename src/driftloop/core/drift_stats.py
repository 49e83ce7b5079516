"""Per-feature drift statistics in plain numpy, matching Evidently 0.7's large-reference tests.

Evidently picks its test from the size of the reference: with more than 1000 reference rows it
uses distances (normed Wasserstein for numbers, Jensen-Shannon for categories) compared with a
threshold of 0.1; with fewer it uses p-value tests (KS, chi-square, Z) that flag drift on a large
share of columns drawn from the *same* distribution. driftloop uses the distances for every
reference size, so a small reference cannot make a healthy window look drifted.

The definitions follow Evidently's source (``evidently.legacy.calculations.stattests``):

* missing and infinite values are dropped from both sides before a test;
* a numeric column with at most 5 distinct values (both sides together) is treated like a
  category (Jensen-Shannon on value shares), any other numeric column gets the Wasserstein-1
  distance divided by the reference's population standard deviation (at least 0.001);
* Jensen-Shannon uses the natural logarithm (scipy's default base), so it lies in
  [0, sqrt(ln 2)] ~ [0, 0.833];
* a feature drifts when ``score >= threshold``.

On top of Evidently's distance, two signals Evidently does not report also count as drift: the
missing share moving by at least the threshold (absolute), and at least a threshold's share of
the current non-missing values being categories the reference never had.

That is the ``threshold`` mode. In the ``calibrated`` mode (``compute_drift(calibrated=...)``,
thresholds from :mod:`driftloop.core.null_thresholds`) each feature's distance is compared
with its own threshold, and categories with few reference rows are pooled into one bucket on
both sides first (``pool_rare``); the missing and unseen signals keep the fixed threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

FeatureKind = Literal["numeric", "categorical"]
Method = Literal["wasserstein", "jensenshannon"]

WASSERSTEIN: Method = "wasserstein"
JENSEN_SHANNON: Method = "jensenshannon"
# Evidently switches a numeric column to Jensen-Shannon at this many distinct values or fewer.
LOW_CARDINALITY_MAX = 5
# Evidently's floor on the reference std, so a constant reference does not divide by zero.
MIN_NORM = 0.001

SIGNAL_DISTRIBUTION = "distribution"
SIGNAL_MISSING = "missing"
SIGNAL_NEW_CATEGORY = "new_category"
Mode = Literal["threshold", "calibrated"]


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


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
    calibrated: Mapping[str, tuple[str, float]] | None = None,
    min_category_rows: int = 1,
) -> DriftSummary:
    """Compare ``current`` with ``reference`` feature by feature (numeric first, then categorical).

    ``calibrated`` (calibrated mode) maps features to (method, threshold): a feature whose
    method matches decides by its own threshold, any other by ``threshold``; categories with
    fewer than ``min_category_rows`` reference rows are pooled first.

    Raises ValueError when a column is missing from either frame, a column is listed as both
    kinds, a numeric column holds non-numbers, or either frame has no rows.
    """
    prepared = prepare_reference(
        reference, numeric, categorical, threshold, calibrated, min_category_rows
    )
    return prepared.compare(current)


@dataclass(frozen=True)
class NumericReference:
    """A numeric reference column made ready: its sorted finite values and their norm."""

    sorted_values: np.ndarray
    missing_share: float
    norm: float


@dataclass(frozen=True)
class CategoricalReference:
    """A categorical reference column made ready: its value counts."""

    counts: pd.Series
    rows: int


@dataclass(frozen=True)
class PreparedReference:
    """The reference's statistics, computed once and compared with many windows (the
    in-server monitor keeps one per model version). ``compare`` gives exactly what
    ``compute_drift`` gives on the raw reference."""

    rows: int
    threshold: float
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    calibrated: dict[str, tuple[str, float]] | None = None
    min_category_rows: int = 1
    """Categories under this many reference rows are pooled (calibrated mode only)."""

    def own(self, name: str) -> tuple[str, float] | None:
        """A feature's calibrated (method, threshold), if it has one."""
        return None if self.calibrated is None else self.calibrated.get(name)

    @property
    def mode(self) -> Mode:
        return "calibrated" if self.calibrated is not None else "threshold"

    def compare(self, current: pd.DataFrame) -> DriftSummary:
        """Drift verdicts of one window; ValueError as ``compute_drift``."""
        _check_frame(current, [*self.numeric, *self.categorical], "current")
        results: list[FeatureDrift] = []
        for name, ref in self.numeric.items():
            cur = _as_float(current[name], name, "current")
            results.append(_numeric_drift(name, ref, cur, self.threshold, self.own(name)))
        for name, cat in self.categorical.items():
            results.append(_categorical_drift(name, cat, current[name], self))
        return summarise(results, self.rows, len(current), self.threshold, self.mode)


def prepare_reference(
    reference: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float,
    calibrated: Mapping[str, tuple[str, float]] | None = None,
    min_category_rows: int = 1,
) -> PreparedReference:
    """Sort and count the reference once (ValueError on bad columns, as ``compute_drift``)."""
    numeric, categorical = list(numeric), list(categorical)
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise ValueError(f"columns listed as both numeric and categorical: {', '.join(both)}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    _check_frame(reference, numeric + categorical, "reference")
    prepared_numeric = {}
    for name in numeric:
        ref = _as_float(reference[name], name, "reference")
        ok = np.isfinite(ref)
        values = np.sort(ref[ok])
        prepared_numeric[name] = NumericReference(
            values, float(1.0 - ok.mean()), _norm(values) if len(values) else MIN_NORM
        )
    prepared_categorical = {
        name: CategoricalReference(
            _finite(reference[name]).value_counts(dropna=True), len(reference)
        )
        for name in categorical
    }
    return PreparedReference(
        len(reference), threshold, prepared_numeric, prepared_categorical,
        None if calibrated is None else dict(calibrated),
        min_category_rows if calibrated is not None else 1,
    )  # fmt: skip


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


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance divided by the reference's population std (floored at 0.001).

    Both arrays must be finite and non-empty. Equal to Evidently's
    ``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``.
    """
    merged, from_ref = _merge_sorted(np.sort(reference), np.sort(current))
    return _wasserstein_sorted(merged, from_ref, len(reference), len(current)) / _norm(reference)


def pool_rare(
    ref_counts: np.ndarray, cur_counts: np.ndarray, min_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts with every level under ``min_rows`` reference rows pooled into one last bucket.

    Levels with no reference rows (new in the window) fall in the bucket too. Unchanged when
    no level is rare.
    """
    rare = ref_counts < min_rows
    if not rare.any():
        return ref_counts, cur_counts
    keep = ~rare
    ref = np.r_[ref_counts[keep], ref_counts[rare].sum()]
    cur = np.r_[cur_counts[keep], cur_counts[rare].sum()]
    return ref, cur


def rel_entr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise ``x * log(x / y)``, 0 where ``x`` is 0 (``scipy.special.rel_entr`` for the
    distributions a Jensen-Shannon mixture gives, where ``y > 0`` wherever ``x > 0``): numpy,
    so a drift check does not import scipy (0.2 s of every ``detect``)."""
    positive = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = x * np.log(np.where(positive, x, 1.0) / np.where(positive, y, 1.0))
    return np.where(positive, terms, 0.0)


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between two count vectors over the same keys."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2.0
    js = (rel_entr(p, m).sum() + rel_entr(q, m).sum()) / 2.0
    return math.sqrt(max(float(js), 0.0))


def _check_frame(frame: pd.DataFrame, wanted: list[str], side: str) -> None:
    absent = [c for c in wanted if c not in frame.columns]
    if absent:
        raise ValueError(f"columns absent from the {side} data: {', '.join(absent)}")
    if len(frame) == 0:
        raise ValueError(f"the {side} data has no rows")


def _finite(series: pd.Series) -> pd.Series:
    """Evidently drops +-inf with the missing values; only float columns can hold them."""
    return series.replace([np.inf, -np.inf], np.nan) if series.dtype.kind == "f" else series


def _as_float(series: pd.Series, name: str, side: str) -> np.ndarray:
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"numeric column {name!r} in the {side} data holds non-numeric values ({exc})"
        ) from exc


def _norm(reference: np.ndarray) -> float:
    return max(float(np.std(reference)), MIN_NORM)


def _merge_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge two sorted arrays; also say which merged values came from the reference."""
    both = np.concatenate([ref_sorted, cur_sorted])
    # A stable sort of two sorted runs is a linear merge (timsort/radix), not a full sort.
    order = np.argsort(both, kind="stable")
    return both[order], order < len(ref_sorted)


def _wasserstein_sorted(merged: np.ndarray, from_ref: np.ndarray, n_ref: int, n_cur: int) -> float:
    # Integral of |F_ref - F_cur| between consecutive merged values. Inside a run of ties the
    # step width is 0, so the running counts there need not be the "right" CDF values.
    # F_ref - F_cur = r/n_ref - (k - r)/n_cur, with r reference values among the first k.
    diff = np.cumsum(from_ref[:-1], dtype=np.float64)
    diff *= 1.0 / n_ref + 1.0 / n_cur
    diff -= np.arange(1, len(merged), dtype=np.float64) * (1.0 / n_cur)
    np.abs(diff, out=diff)
    return float(diff @ np.diff(merged))


def _numeric_drift(
    name: str,
    ref: NumericReference,
    cur: np.ndarray,
    threshold: float,
    own: tuple[str, float] | None = None,
) -> FeatureDrift:
    cur_ok = np.isfinite(cur)
    ref_vals, cur_vals = ref.sorted_values, np.sort(cur[cur_ok])
    method: Method = WASSERSTEIN
    score: float | None = None
    if len(ref_vals) and len(cur_vals):
        merged, from_ref = _merge_sorted(ref_vals, cur_vals)
        new_value = np.empty(len(merged), dtype=bool)
        new_value[0] = True
        np.not_equal(merged[1:], merged[:-1], out=new_value[1:])
        if int(new_value.sum()) <= LOW_CARDINALITY_MAX:
            method = JENSEN_SHANNON
            group = np.cumsum(new_value) - 1
            k = int(group[-1]) + 1
            ref_counts = np.bincount(group[from_ref], minlength=k)
            cur_counts = np.bincount(group[~from_ref], minlength=k)
            score = jensen_shannon(ref_counts, cur_counts)
        else:
            w1 = _wasserstein_sorted(merged, from_ref, len(ref_vals), len(cur_vals))
            score = w1 / ref.norm
    return verdict(name, "numeric", method, score, threshold, own,
                   missing_ref=ref.missing_share, missing_cur=1.0 - cur_ok.mean(),
                   unseen=0.0)  # fmt: skip


def _categorical_drift(
    name: str, ref: CategoricalReference, cur: pd.Series, prepared: PreparedReference
) -> FeatureDrift:
    # Hash counts per side, then align on the (few) keys: far cheaper than factorising both.
    counts = pd.concat(
        [ref.counts, _finite(cur).value_counts(dropna=True)], axis=1, sort=False
    ).fillna(0)
    return categorical_verdict(
        name,
        counts.iloc[:, 0].to_numpy(dtype=np.float64),
        counts.iloc[:, 1].to_numpy(dtype=np.float64),
        (ref.rows, len(cur)),
        prepared,
    )


def categorical_verdict(
    name: str,
    ref_counts: np.ndarray,
    cur_counts: np.ndarray,
    rows: tuple[int, int],
    prepared: PreparedReference,
) -> FeatureDrift:
    """A categorical feature's verdict from value counts aligned on the same keys and the
    row counts (reference, current) including missing values."""
    threshold = prepared.threshold
    n_ref_ok, n_cur_ok = int(ref_counts.sum()), int(cur_counts.sum())
    score: float | None = None
    unseen = 0.0
    if n_ref_ok and n_cur_ok:
        score = jensen_shannon(*pool_rare(ref_counts, cur_counts, prepared.min_category_rows))
    if n_cur_ok:
        # With no reference values at all every category is "unseen"; the missing-share
        # signal already reports that case, so do not count it twice.
        unseen = float(cur_counts[ref_counts == 0].sum()) / n_cur_ok if n_ref_ok else 0.0
    return verdict(name, "categorical", JENSEN_SHANNON, score, threshold, prepared.own(name),
                    missing_ref=1.0 - n_ref_ok / rows[0], missing_cur=1.0 - n_cur_ok / rows[1],
                    unseen=unseen)  # fmt: skip


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
