"""Pure parts of retraining: label production rows, split them, build the new training set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec


def join_feedback(
    log: pd.DataFrame, feedback: pd.DataFrame, spec: DatasetSpec, keep: Sequence[str] = ()
) -> pd.DataFrame:
    """Inference-log rows that have a ground-truth label, with the target encoded like prepare.

    The newest label wins when a request id got several. Rows keep ``request_id``, ``ts`` and
    the log columns named in ``keep`` (those the log has).
    """
    extra = [c for c in keep if c in log.columns and c not in (*spec.features, spec.target)]
    columns = ["request_id", "ts", *spec.features, spec.target, *extra]
    if log.empty or feedback.empty:
        return pd.DataFrame(columns=columns)
    fb = feedback.sort_values("ts").drop_duplicates("request_id", keep="last")
    fb = fb[["request_id", "label"]]
    merged = log.merge(fb, on="request_id", how="inner")
    merged = merged.drop_duplicates("request_id", keep="last")
    if merged.empty:
        return pd.DataFrame(columns=columns)
    if spec.is_classification:
        target = encode_labels(merged["label"], spec)
        merged = merged[target.notna()].copy()
        merged[spec.target] = target.dropna().astype("int64")
    else:
        merged[spec.target] = pd.to_numeric(merged["label"], errors="coerce")
        merged = merged[merged[spec.target].notna()]
    return merged[columns].sort_values("ts").reset_index(drop=True)


_ONE = frozenset({"1", "1.0", "true"})
_ZERO = frozenset({"0", "0.0", "false"})
_MISSING = frozenset({"", "nan", "none", "null", "<na>"})


def encode_labels(labels: pd.Series, spec: DatasetSpec) -> pd.Series:
    """Binary labels as 1 (positive class) / 0, NaN where a label is unusable.

    Labels may come as the class names (``"Yes"``/``"No"``) or as ``0``/``1`` (ints,
    floats, strings or booleans) whatever the positive class is called: 1 is the positive
    class. Any other name is the negative class (the task is binary); empty labels and
    other numbers are unusable.
    """
    text = labels.astype(str).str.strip()
    lower = text.str.lower()
    positive = str(spec.positive_class).strip()
    if positive.lower() in _ONE | _ZERO:  # the class names are themselves 0/1
        is_positive = lower.isin(_ONE if positive.lower() in _ONE else _ZERO)
        known = lower.isin(_ONE | _ZERO)
    else:
        is_positive = (text == positive) | lower.isin(_ONE)
        numeric = pd.to_numeric(text, errors="coerce").notna()
        known = ~lower.isin(_MISSING) & (~numeric | lower.isin(_ONE | _ZERO))
    return is_positive.astype("float64").where(known)


def normalise_labelled(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """A labelled frame from a file: features as prepared, target as 0/1 (classification,
    see ``encode_labels``); InputError naming the labels that are neither."""
    out = frame.copy()
    for col in spec.numeric_features:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in spec.categorical_features:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    if spec.is_classification:
        target = encode_labels(out[spec.target], spec)
        if target.isna().any():
            bad = sorted(set(out.loc[target.isna(), spec.target].astype(str)))[:5]
            raise InputError(
                f"target column '{spec.target}' has labels that are neither a class name nor "
                f"0/1: {', '.join(bad)} (positive class {spec.positive_class!r})"
            )
        out[spec.target] = target.astype("int64")
    return out


def time_order(ts: pd.Series) -> np.ndarray:
    """Positions of the rows oldest first by ``ts`` (ties keep their order; an unreadable
    time counts as the oldest)."""
    stamps = pd.to_datetime(pd.Series(ts).reset_index(drop=True), utc=True, errors="coerce",
                            format="mixed").fillna(pd.Timestamp(0, tz="UTC"))  # fmt: skip
    return np.argsort(stamps.to_numpy(dtype="datetime64[ns]"), kind="stable")


def newest_holdout(ts: pd.Series, rows: int) -> np.ndarray:
    """True for the newest ``rows`` rows by ``ts``: the rows the gate scores both models on,
    since they are the most like what the promoted model will serve. A random split scores a
    model on rows as old as the ones it learnt from, which under a growing shift flatters it."""
    held = np.zeros(len(ts), dtype=bool)
    k = min(max(rows, 0), len(ts))
    if k:
        held[time_order(ts)[len(ts) - k :]] = True
    return held


def holdout_rows(labelled_rows: int, window_rows: int, share: float) -> int:
    """How many of the newest labelled rows the gate holds out: ``share`` of the newest
    window's worth (``window_rows``), so training still sees the rest of the changed world —
    half of *all* rows would keep every changed row out of training when the change is
    recent."""
    return int(round(share * min(labelled_rows, window_rows)))


def newest_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The newest ``rows`` rows of a frame (``ts``), oldest first."""
    return frame.iloc[time_order(frame["ts"])[max(len(frame) - rows, 0) :]]


def training_set(
    base: pd.DataFrame, recent: pd.DataFrame, spec: DatasetSpec, recent_weight: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """Base training rows plus recent labelled rows, and per-row sample weights.

    Recent rows are weighted so that, together, they count for ``recent_weight`` of the total
    weight (when there are any): a few hundred rows of a drifted world must be able to move
    a model trained on thousands of rows of the old one.
    """
    cols = [*spec.features, spec.target]
    combined = pd.concat([base[cols], recent[cols]], ignore_index=True)
    weights = np.ones(len(combined))
    if len(recent) and len(base) and recent_weight > 0:
        w = recent_weight * len(base) / ((1 - recent_weight) * len(recent))
        weights[len(base) :] = max(w, 1.0)
    return combined, weights
