"""Traffic figures: rates, error shares, latency quantiles and the predicted-class mix.

Two sources, one shape: the difference of two snapshots of the service's Prometheus
counters (a running server), or the inference log (no server at hand, so no latency or
errors). Pure: values in, a JSON-ready dict out.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd


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


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) pairs."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    counts = [c for _, c in buckets]
    i = bisect.bisect_left(counts, rank)
    upper, count = buckets[i]
    if upper == float("inf"):
        return buckets[i - 1][0] if i > 0 else None
    lower, below = buckets[i - 1] if i > 0 else (0.0, 0.0)
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
        "class_mix": {k: v for k, v in sorted(mix.items()) if v},
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
        "class_mix": _counts(recent, "prediction"), "by_source": _counts(recent, "source"),
        "last_prediction_at": ts.max().isoformat(timespec="seconds") if len(ts) else None,
    }  # fmt: skip


def _counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    if column not in frame.columns or frame.empty:
        return {}
    return {str(k): int(v) for k, v in frame[column].astype(str).value_counts().items()}
