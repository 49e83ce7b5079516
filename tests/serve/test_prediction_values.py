"""Traffic figures of a regressor: quantiles and a histogram, never a count per value."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from driftloop.core.traffic import TrafficSnapshot, log_traffic, traffic_between
from driftloop.serve.dashboard_charts import value_histogram
from driftloop.serve.dashboard_view import traffic_card
from driftloop.serve.routes.dashboard import snapshot_telemetry
from driftloop.serve.telemetry import Telemetry


def test_log_traffic_summarises_regression_values():
    now = datetime.now(UTC)
    values = np.random.default_rng(0).normal(100, 10, 2000)
    log = pd.DataFrame({"ts": [now] * 2000, "prediction": values, "probability": [None] * 2000,
                        "source": "api"})  # fmt: skip
    t = log_traffic(log, 60, now)
    assert t["class_mix"] == {}
    q = t["prediction_values"]["quantiles"]
    assert abs(q["p50"] - np.median(values)) < 1e-9 and q["p05"] < q["p25"] < q["p75"] < q["p95"]
    assert sum(n for _, _, n in t["prediction_values"]["bins"]) == 2000

    labels = pd.DataFrame({"ts": [now] * 3, "prediction": ["Yes", "No", "No"],
                           "probability": [0.7, 0.2, 0.1], "source": "api"})  # fmt: skip
    t = log_traffic(labels, 60, now)
    assert t["class_mix"] == {"No": 2, "Yes": 1} and t["prediction_values"] is None


def test_server_histogram_gives_quantiles_between_snapshots():
    telemetry = Telemetry()
    telemetry.set_value_buckets((10.0, 20.0, 30.0, 40.0))
    telemetry.observe_values([5.0] * 10)
    before, _ = snapshot_telemetry(telemetry.registry, 0.0)
    telemetry.observe_values([15.0] * 50 + [25.0] * 50)
    telemetry.count_predictions("value", "api", 110)
    after, _ = snapshot_telemetry(telemetry.registry, 10.0)
    t = traffic_between(before, after, "last 10 s")
    v = t["prediction_values"]
    assert t["class_mix"] == {} and v["count"] == 100
    assert v["quantiles"]["p50"] == 20.0 and 10.0 < v["quantiles"]["p25"] < 20.0
    assert [b[2] for b in v["bins"]] == [0, 50, 50, 0, 0]
    telemetry.set_value_buckets((10.0, 20.0, 30.0, 40.0))  # same bounds: counts kept
    again, _ = snapshot_telemetry(telemetry.registry, 11.0)
    assert again.values == after.values
    html = traffic_card(t)
    assert "Predicted values" in html and "Predicted classes" not in html
    assert "p50 20.000" in value_histogram(v)
    assert "No predictions" in value_histogram(
        traffic_between(after, after, "x")["prediction_values"]
    )


def test_a_classifier_keeps_its_class_mix():
    old = TrafficSnapshot(0.0, predictions={"Yes": 1.0})
    new = TrafficSnapshot(5.0, predictions={"Yes": 3.0, "No": 4.0})
    t = traffic_between(old, new, "x")
    assert t["class_mix"] == {"No": 4, "Yes": 2} and t["prediction_values"] is None
