"""Request models generated from a schema: required but nullable, strict types, docs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from driftloop.serve.request_models import build_request_models

SCHEMA = {
    "dataset": "toy",
    "features": [
        {
            "name": "tenure",
            "kind": "numeric",
            "min": 0.0,
            "max": 72.0,
            "mean": 32.4,
            "missing_share": 0.0,
        },
        {
            "name": "contract",
            "kind": "categorical",
            "categories": ["One year", "Two year"],
            "missing_share": 0.01,
        },
        {"name": "model_score", "kind": "numeric"},  # clashes with pydantic's namespace
        {"name": "plan type", "kind": "categorical", "categories": ["a"]},  # not an identifier
    ],
    "target": {"name": "churn", "task": "binary_classification", "classes": ["No", "Yes"]},
}
GOOD = {"tenure": 3, "contract": "One year", "model_score": 0.5, "plan type": "a"}


@pytest.fixture(scope="module")
def models():
    return build_request_models(SCHEMA, max_batch=3, example=GOOD)


def test_a_valid_record_reads_back_by_feature_name(models):
    instance = models.record.model_validate_json(
        b'{"tenure": 3, "contract": "One year", "model_score": null, "plan type": "zz", "x": 1}'
    )
    assert models.as_record(instance) == {
        "tenure": 3.0,
        "contract": "One year",
        "model_score": None,
        "plan type": "zz",
    }
    assert models.features == ("tenure", "contract", "model_score", "plan type")
    assert not models.plain_names


@pytest.mark.parametrize(
    ("change", "loc", "kind"),
    [
        ({"tenure": "3"}, ("tenure",), "float_type"),
        ({"tenure": True}, ("tenure",), "float_type"),
        ({"contract": 1}, ("contract",), "string_type"),
        ({"plan type": 2}, ("plan type",), "string_type"),
    ],
)
def test_mistyped_fields_are_named(models, change, loc, kind):
    with pytest.raises(ValidationError) as err:
        models.record.model_validate(GOOD | change)
    assert [(e["loc"], e["type"]) for e in err.value.errors()] == [(loc, kind)]


def test_missing_fields_are_named_and_nulls_are_fine(models):
    with pytest.raises(ValidationError) as err:
        models.record.model_validate({"tenure": None})
    assert sorted(e["loc"][0] for e in err.value.errors()) == [
        "contract",
        "model_score",
        "plan type",
    ]
    assert models.record.model_validate({k: None for k in GOOD})


def test_batch_is_bounded(models):
    with pytest.raises(ValidationError) as err:
        models.batch.model_validate({"records": [GOOD] * 4})
    assert err.value.errors()[0]["loc"] == ("records",)
    with pytest.raises(ValidationError):
        models.batch.model_validate({"records": []})
    assert len(models.batch.model_validate({"records": [GOOD] * 3}).records) == 3


def test_json_schema_describes_each_field(models):
    schema = models.record.model_json_schema()
    assert schema["required"] == ["tenure", "contract", "model_score", "plan type"]
    assert "max 72" in schema["properties"]["tenure"]["description"]
    assert "'One year', 'Two year'" in schema["properties"]["contract"]["description"]
    assert "unseen" in schema["properties"]["contract"]["description"]
    assert schema["examples"] == [GOOD]
