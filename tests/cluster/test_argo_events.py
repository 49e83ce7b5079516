"""The Argo Events stand-in read from the rendered EventSource and Sensor (dev overlay)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driftloop_cluster import argo_events
from driftloop_cluster.argo_events import (
    UnsupportedFeature,
    check_auth,
    event_data,
    gjson_string,
    sensor_parameters,
    sensor_trigger,
    webhook_spec,
)

from .conftest import find

SIG = "sha256=" + "ab" * 32


@pytest.fixture(scope="module")
def sensor(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return find(rendered["dev"], "Sensor", "drift-retrain", "argo-events")


@pytest.fixture(scope="module")
def event_source(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return find(rendered["dev"], "EventSource", "drift-webhook", "argo-events")


def _headers(signature: str = SIG) -> dict[str, str]:
    return {
        "host": "drift-webhook-eventsource-svc.argo-events:12000",
        "content-type": "application/json",
        "authorization": "Bearer t0ken",
        "x-driftloop-signature": signature,
    }


def test_webhook_spec_from_the_rendered_event_source(event_source: dict[str, Any]) -> None:
    spec = webhook_spec(event_source)
    assert (spec.name, spec.port, spec.endpoint, spec.method) == (
        "drift-detected",
        12000,
        "/drift-detected",
        "POST",
    )
    assert spec.auth_secret == ("drift-webhook", "TOKEN")
    assert spec.max_payload_size == 65536


def test_bearer_token_check(event_source: dict[str, Any]) -> None:
    spec = webhook_spec(event_source)
    secrets = {("drift-webhook", "TOKEN"): "t0ken\n"}  # one trailing newline is trimmed
    assert check_auth(spec, {"Authorization": "Bearer t0ken"}, secrets)
    assert check_auth(spec, {"authorization": "Bearer t0ken"}, secrets)
    assert not check_auth(spec, {"Authorization": "Bearer wrong"}, secrets)
    assert not check_auth(spec, {"Authorization": "t0ken"}, secrets)
    assert not check_auth(spec, {}, secrets)
    with pytest.raises(KeyError, match="drift-webhook/TOKEN"):
        check_auth(spec, {"Authorization": "Bearer t0ken"}, {})


def test_event_data_is_what_the_webhook_publishes() -> None:
    data = event_data(_headers(), b'{ "a": "<x>&", "n": 1.50, "i": 7 }')
    assert "Host" not in data["header"]
    assert data["header"]["Authorization"] == [argo_events.MASKED_AUTH]
    assert data["header"]["X-Driftloop-Signature"] == [SIG]
    assert argo_events.go_json(data["body"]) == '{"a":"\\u003cx\\u003e\\u0026","n":1.50,"i":7}'
    with pytest.raises(ValueError, match="not JSON"):
        event_data(_headers(), b"drift!")


@pytest.mark.parametrize(
    ("literal", "printed"),
    [("0.5", "0.5"), ("7", "7"), ("1.0", "1"), ("1e-7", "0.0000001"), ("2.5E3", "2500")],
)
def test_numbers_print_as_gjson_prints_them(literal: str, printed: str) -> None:
    assert gjson_string(event_data({}, f'{{"x": {literal}}}'.encode())["body"]["x"]) == printed


def test_trigger_resource_names_the_template(sensor: dict[str, Any]) -> None:
    resource = sensor_trigger(sensor)
    assert resource["kind"] == "Workflow"
    assert resource["spec"]["workflowTemplateRef"]["name"] == "drift-retrain-template"
    assert resource["metadata"]["generateName"] == "drift-retrain-"
    resource["spec"]["arguments"] = {}  # a copy: the rendered Sensor is not changed
    assert sensor_trigger(sensor)["spec"]["arguments"]


def test_mapping_of_a_drift_event(sensor: dict[str, Any]) -> None:
    body = {
        "event_id": "e-1",
        "drift_score": 0.75,
        "reference_data_path": "s3://driftloop/ref.parquet",
        "current_data_path": "",
    }
    params = sensor_parameters(sensor, _headers(), json.dumps(body).encode())
    assert params is not None
    assert params["event-id"] == "e-1"
    assert params["drift-score"] == "0.75"
    assert params["reference-data-path"] == "s3://driftloop/ref.parquet"
    assert params["current-data-path"] == ""


def test_missing_keys_fall_back_to_the_source_value(sensor: dict[str, Any]) -> None:
    params = sensor_parameters(sensor, _headers(), b'{"drift_score": 0.5}')
    assert params is not None
    assert params["event-id"] == ""
    assert params["drift-score"] == "0.5"


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        ("sha256=short", b'{"drift_score": 0.5}'),  # signature header fails the regex
        (SIG, b'{"drift_score": -1}'),  # score below the number filter
        (SIG, b'{"event_id": "e"}'),  # no drift_score: the path does not exist
    ],
)
def test_filters_drop_events(sensor: dict[str, Any], signature: str, body: bytes) -> None:
    assert sensor_parameters(sensor, _headers(signature), body) is None


def test_no_signature_header_drops_the_event(sensor: dict[str, Any]) -> None:
    headers = {k: v for k, v in _headers().items() if k != "x-driftloop-signature"}
    assert sensor_parameters(sensor, headers, b'{"drift_score": 0.5}') is None


def test_or_filters_and_unmodelled_features(sensor: dict[str, Any]) -> None:
    either = json.loads(json.dumps(sensor))
    filters = either["spec"]["dependencies"][0]["filters"]
    filters["dataLogicalOperator"] = "or"
    # With "or", a body without the score passes on the signature filter alone.
    assert sensor_parameters(either, _headers(), b'{"event_id": "e"}') is not None
    filters["exprs"] = [{"expr": "a > 1", "fields": [{"name": "a", "path": "body.a"}]}]
    with pytest.raises(UnsupportedFeature, match="exprs"):
        sensor_parameters(either, _headers(), b'{"drift_score": 1}')
