"""Traffic figures: rates, error shares, latency quantiles and what was predicted: the
class mix of a classifier, quantiles and a histogram of a regressor's values (never a count
per distinct value).

Two sources, one shape: the difference of two snapshots of the service's Prometheus
counters (a running server), or the inference log (no server at hand, so no latency or
errors). Pure: values in, a JSON-ready dict out.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

VALUE_QUANTILES = (("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))
HISTOGRAM_BINS = 10


def is_traffic_route(route: str) -> bool:
    """Routes clients call to get predictions or send labels (not probes or pages)."""
    return route.startswith("/predict") or route.endswith("/infer") or route in (
        "/feedback", "/simulate-drift")  # fmt: skip


@dataclass(frozen=True)
class TrafficSnapshot:
    """Cumulative counts of the traffic routes at one moment."""

    at: float
    requests: dict[str, float] = field(default_factory=dict)  # "route status" -> count
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, cumulative count)
    predictions: dict[str, float] = field(default_factory=dict)
    values: tuple[tuple[float, float], ...] = ()
    """Regression predictions: (upper bound, cumulative count) of the value histogram."""


def histogram_quantile(
    q: float, buckets: list[tuple[float, float]], lowest: float | None = 0.0
) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) pairs; values in
    the first bucket lie between ``lowest`` and its bound (None: at the bound)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    counts = [c for _, c in buckets]
    i = bisect.bisect_left(counts, rank)
    upper, count = buckets[i]
    if upper == float("inf"):
        return buckets[i - 1][0] if i > 0 else None
    if i == 0 and lowest is None:
        return upper
    lower, below = buckets[i - 1] if i > 0 else (float(lowest or 0.0), 0.0)
    width = count - below
    return lower + (upper - lower) * ((rank - below) / width if width else 1.0)


def traffic_between(old: TrafficSnapshot, new: TrafficSnapshot, basis: str) -> dict[str, Any]:
    """Rates, error shares, latency quantiles and class mix between two snapshots."""
    seconds = max(new.at - old.at, 1e-9)
    routes: dict[str, dict[str, float]] = {}
    for key, n in new.requests.items():
        route, status = key.rsplit(" ", 1)
        d = n - old.requests.get(key, 0.0)
        r = routes.setdefault(route, {"requests": 0.0, "errors": 0.0, "client_errors": 0.0})
        r["requests"] += d
        r["errors"] += d if status.startswith("5") else 0.0
        r["client_errors"] += d if status.startswith("4") else 0.0
    total = sum(r["requests"] for r in routes.values())
    errors = sum(r["errors"] for r in routes.values())
    client = sum(r["client_errors"] for r in routes.values())
    before = dict(old.buckets)
    deltas = [(le, c - before.get(le, 0.0)) for le, c in new.buckets]
    mix = {k: int(v - old.predictions.get(k, 0.0)) for k, v in new.predictions.items()}
    values = bucket_values(old.values, new.values)
    quantiles = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    q = {name: histogram_quantile(p, deltas) for name, p in quantiles}
    predictions = sum(mix.values())
    return {
        "basis": basis, "seconds": seconds, "requests": int(total),
        "request_rate": total / seconds, "predictions": predictions,
        "prediction_rate": predictions / seconds,
        "error_rate": errors / total if total else None,
        "client_error_rate": client / total if total else None,
        "latency_ms": {k: None if v is None else v * 1000 for k, v in q.items()},
        "class_mix": {} if values else {k: v for k, v in sorted(mix.items()) if v},
        "prediction_values": values,
        "routes": [{"route": k, "requests": int(v["requests"]), "errors": int(v["errors"]),
                    "client_errors": int(v["client_errors"])}
                   for k, v in sorted(routes.items()) if v["requests"]],
    }  # fmt: skip


def log_traffic(log: pd.DataFrame, minutes: float, now: datetime) -> dict[str, Any]:
    """Predictions logged in the last ``minutes``: rate, class mix, sources. Latency and
    errors are only known to a running server."""
    ts = pd.to_datetime(log["ts"], utc=True) if len(log) else pd.Series([], dtype=object)
    recent = log[ts >= pd.Timestamp(now - timedelta(minutes=minutes))] if len(log) else log
    n = len(recent)
    return {
        "basis": f"inference log, last {minutes:g} min", "seconds": minutes * 60,
        "requests": None, "request_rate": None, "predictions": n,
        "prediction_rate": n / (minutes * 60), "error_rate": None, "client_error_rate": None,
        "latency_ms": None, "routes": [],
        "by_source": _counts(recent, "source"),
        **_predicted(recent),
        "last_prediction_at": ts.max().isoformat(timespec="seconds") if len(ts) else None,
    }  # fmt: skip


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    if column not in frame.columns or frame.empty:
        return {}
    return {str(k): int(v) for k, v in frame[column].astype(str).value_counts().items()}


def _predicted(log: pd.DataFrame) -> dict[str, Any]:
    """A classifier's class mix, or a regressor's value summary (no probabilities logged)."""
    if "prediction" in log.columns and len(log):
        scored = "probability" in log.columns and log["probability"].notna().any()
        numbers = pd.to_numeric(log["prediction"], errors="coerce")
        if not scored and numbers.notna().all():
            return {"class_mix": {}, "prediction_values": value_summary(numbers.to_numpy())}
    return {"class_mix": _counts(log, "prediction"), "prediction_values": None}


def value_summary(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any] | None:
    """Quantiles and an equal-width histogram of predicted values (None when there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    counts, edges = np.histogram(v, bins=bins)
    return {
        "count": int(len(v)), "mean": float(v.mean()), "min": float(v.min()),
        "max": float(v.max()), "basis": "exact",
        "quantiles": {k: float(np.quantile(v, q)) for k, q in VALUE_QUANTILES},
        "bins": [[float(lo), float(hi), int(n)]
                 for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)],
    }  # fmt: skip


def bucket_values(
    old: tuple[tuple[float, float], ...], new: tuple[tuple[float, float], ...]
) -> dict[str, Any] | None:
    """None for a classifier (no buckets), else quantiles (interpolated within buckets) and
    the bucket counts of the predicted values counted between two snapshots; buckets that
    changed (a new model) count from zero."""
    if not new:
        return None
    before = dict(old) if [b for b, _ in old] == [b for b, _ in new] else {}
    deltas = [(le, c - before.get(le, 0.0)) for le, c in new]
    total = deltas[-1][1] if deltas else 0.0
    if total <= 0:  # a regressor that predicted nothing in this period
        return {"count": 0, "mean": None, "min": None, "max": None,
                "basis": "histogram buckets", "quantiles": {}, "bins": []}  # fmt: skip
    quantiles = {k: histogram_quantile(q, deltas, lowest=None) for k, q in VALUE_QUANTILES}
    bins, lower, below = [], None, 0.0
    for le, cum in deltas:
        bins.append([lower, None if le == float("inf") else le, int(cum - below)])
        lower, below = le, cum
    return {"count": int(total), "mean": None, "min": None, "max": None,
            "basis": "histogram buckets", "quantiles": quantiles, "bins": bins}  # fmt: skip
