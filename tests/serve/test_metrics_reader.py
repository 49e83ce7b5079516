"""The tests' one reader of ``/metrics`` (tests/support/metrics.py), on the exposition the
server's real ``Telemetry`` renders: a renamed metric or label fails, it never reads 0."""

from __future__ import annotations

import pytest

from driftloop.serve.telemetry import Telemetry

from ..support.metrics import MetricMissing, metric


def exposition(telemetry: Telemetry) -> str:
    return telemetry.render().decode()


def test_reads_values_and_sums_over_labels_left_out():
    telemetry = Telemetry()
    telemetry.observe_request("/predict", "POST", 200, 0.001)
    telemetry.observe_request("/predict", "GET", 200, 0.001)
    telemetry.observe_request("/predict", "POST", 422, 0.001)
    telemetry.set_serving("driftloop-model", "7", "v1", "compiled")
    text = exposition(telemetry)
    assert metric(text, "driftloop_http_requests_total", route="/predict", status="200") == 2
    assert metric(text, "driftloop_http_requests_total", route="/predict") == 3
    assert metric(text, "driftloop_http_request_duration_seconds_count", status="422") == 1
    assert metric(text, "driftloop_model_version") == 7
    assert metric(text, "driftloop_model_info", version="7", fast_path="compiled") == 1
    assert metric(text, "driftloop_inference_log_rows_dropped_total") == 0  # exported as 0


def test_a_counter_series_not_incremented_yet_reads_0_until_it_is():
    telemetry = Telemetry()
    assert metric(exposition(telemetry), "driftloop_unseen_categories_total", feature="x") == 0
    telemetry.count_unseen("contract", 2)
    assert metric(exposition(telemetry), "driftloop_unseen_categories_total",
                  feature="contract") == 2  # fmt: skip


def test_a_missing_metric_raises_naming_it_and_what_there_is():
    text = exposition(Telemetry())
    with pytest.raises(MetricMissing) as missing:
        metric(text, "driftloop_inference_log_rows_writen_total")  # a typo, or a rename
    message = str(missing.value)
    assert "driftloop_inference_log_rows_writen_total" in message
    assert "driftloop_inference_log_rows_written_total" in message  # what the server exports
    with pytest.raises(MetricMissing, match="driftloop_model_reload_failures"):
        metric(text, "driftloop_model_reload_failures_count")  # a counter has no _count


def test_a_wrong_label_or_an_absent_gauge_sample_raises():
    telemetry = Telemetry()
    telemetry.observe_request("/predict", "POST", 200, 0.001)
    telemetry.set_serving("driftloop-model", "7", "v1", "compiled")
    text = exposition(telemetry)
    with pytest.raises(MetricMissing, match="no label code; its labels: method, route, status"):
        metric(text, "driftloop_http_requests_total", code="200")
    with pytest.raises(MetricMissing, match='version="8"'):
        metric(text, "driftloop_model_info", version="8")  # a gauge does not start at 0
