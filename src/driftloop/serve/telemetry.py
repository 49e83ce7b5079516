"""Prometheus metrics of the prediction service, in a registry per app (no global state).

Labelled children are looked up once and cached: ``Counter.labels(...)`` costs more than
the increment itself on the per-request path. Metrics are per process; with several
uvicorn workers each worker answers /metrics for itself (scale with replicas instead).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Telemetry:
    """Every metric the service exports."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._declare_http_and_prediction(self.registry)
        self._declare_model(self.registry)
        self._declare_log_and_store(self.registry)
        self.feedback_labels = Counter(
            "driftloop_feedback_labels", "Ground-truth labels received.", registry=self.registry
        )
        self.prediction_values: Histogram | None = None
        """Regression predictions, on buckets from the serving model's validation targets."""
        self._value_bounds: tuple[float, ...] = ()
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._prediction_children: dict[tuple[str, str], Any] = {}
        self._unseen_children: dict[str, Any] = {}

    def _declare_http_and_prediction(self, r: CollectorRegistry) -> None:
        self.requests = Counter(
            "driftloop_http_requests", "HTTP requests by route, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "driftloop_http_request_duration_seconds",
            "Time from request to response by route, method and status.",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "driftloop_predictions", "Predictions by predicted class and source (api/simulate).",
            ["prediction", "source"], registry=r,
        )  # fmt: skip
        self.unseen_categories = Counter(
            "driftloop_unseen_categories",
            "Categorical values not in the model's schema, by feature (a drift signal).",
            ["feature"], registry=r,
        )  # fmt: skip

    def _declare_model(self, r: CollectorRegistry) -> None:
        self.model_info = Gauge(
            "driftloop_model_info", "The model version being served (value 1).",
            ["name", "version", "dataset_version", "fast_path"], registry=r,
        )  # fmt: skip
        self.model_version = Gauge(
            "driftloop_model_version", "Version number of the model being served (0: none).",
            registry=r,
        )  # fmt: skip
        self.model_loaded_at = Gauge(
            "driftloop_model_loaded_timestamp_seconds", "When the serving model was loaded.",
            registry=r,
        )  # fmt: skip
        self.reloads = Counter(
            "driftloop_model_reloads", "New model versions loaded and swapped in.", registry=r
        )
        self.reload_failures = Counter(
            "driftloop_model_reload_failures",
            "Failed reloads: registry unreachable, or a version that failed to load or its "
            "smoke test.", registry=r,
        )  # fmt: skip

    def _declare_log_and_store(self, r: CollectorRegistry) -> None:
        self.log_rows_written = Counter(
            "driftloop_inference_log_rows_written",
            "Inference-log rows that reached the object store.", registry=r,
        )  # fmt: skip
        self.log_rows_spooled = Counter(
            "driftloop_inference_log_rows_spooled",
            "Inference-log rows spooled to local disk because the store was unreachable.",
            registry=r,
        )  # fmt: skip
        self.log_rows_dropped = Counter(
            "driftloop_inference_log_rows_dropped",
            "Inference-log rows dropped because the in-memory buffer was full.", registry=r,
        )  # fmt: skip
        self.log_segments_spooled = Gauge(
            "driftloop_inference_log_spooled_segments",
            "Segments waiting in the local spool for the store.", registry=r,
        )  # fmt: skip
        self.store_up = Gauge(
            "driftloop_object_store_up",
            "1 while the object store takes writes; 0 after a failed write, until a retry works.",
            registry=r,
        )  # fmt: skip
        self.store_up.set(1)
        self.log_buffered_rows = Gauge(
            "driftloop_inference_log_buffered_rows", "Rows waiting in memory for the next flush.",
            registry=r,
        )  # fmt: skip

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (route, method, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, prediction: str, source: str, n: int = 1) -> None:
        """Count predictions of one class (``value`` for regression)."""
        key = (prediction, source)
        child = self._prediction_children.get(key)
        if child is None:
            child = self._prediction_children[key] = self.predictions.labels(prediction, source)
        child.inc(n)

    def set_value_buckets(self, bounds: Sequence[float]) -> None:
        """Count regression predictions on these bucket bounds (none: a classifier). A model
        with other bounds replaces the histogram, which then counts from zero."""
        old, bounds = self.prediction_values, tuple(bounds)
        if old is not None and self._value_bounds == bounds:
            return
        if old is not None:
            self.registry.unregister(old)
        self._value_bounds = bounds
        self.prediction_values = None if not bounds else Histogram(
            "driftloop_prediction_value",
            "Predicted values of a regression model (buckets: quantiles of its validation "
            "targets).", buckets=tuple(bounds), registry=self.registry,
        )  # fmt: skip

    def observe_values(self, values: Iterable[float]) -> None:
        """Count regression predictions in the value histogram."""
        histogram = self.prediction_values
        if histogram is not None:
            for v in values:
                histogram.observe(v)

    def count_unseen(self, feature: str, n: int = 1) -> None:
        """Count categorical values the model's schema does not list."""
        child = self._unseen_children.get(feature)
        if child is None:
            child = self._unseen_children[feature] = self.unseen_categories.labels(feature)
        child.inc(n)

    def set_serving(self, name: str, version: str, dataset_version: str, fast_path: str) -> None:
        """Record which model version is serving (replacing the previous one)."""
        self.model_info.clear()
        self.model_info.labels(name, version, dataset_version, fast_path).set(1)
        try:
            self.model_version.set(float(version))
        except ValueError:
            self.model_version.set(0)
        self.model_loaded_at.set(time.time())

    def render(self) -> bytes:
        """The text exposition format."""
        return bytes(generate_latest(self.registry))


class MetricsMiddleware:
    """Pure ASGI middleware: requests and latency by route template, method and status.

    A pure ASGI class rather than ``BaseHTTPMiddleware``, which costs a task and a stream
    per request. The route template (``/v2/models/{name}/infer``) keeps label values few.
    """

    def __init__(self, app: Any, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")  # set by FastAPI's APIRoute
            path = getattr(route, "path", None)
            if path is None:  # Starlette routes (/docs, /openapi.json) have fixed paths
                path = scope["path"] if "endpoint" in scope else "unmatched"
            self.telemetry.observe_request(
                path, scope["method"], status, time.perf_counter() - start
            )
