"""Request models generated from a dataset version's ``schema.json``.

Each feature becomes a required, nullable field (a missing value is legitimate data; a
missing *field* is a client bug): numeric features are numbers, categorical features are
strings. Validation is strict, so ``"12"`` for a number or ``12`` for a category is a 422
that names the field, not a silent conversion; so are ``NaN``, ``Infinity`` and numbers too
large for a float (a missing value is ``null``). Unknown categories are accepted (the
encoder treats them as unseen and the service counts them). Extra fields are ignored, so
clients keep working when a new model version drops a feature.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

_MAX_LISTED_CATEGORIES = 30


@dataclass(frozen=True)
class RequestModels:
    """The generated models of one schema and how to read a validated record."""

    record: type[BaseModel]
    """One record: ``PredictRequest``."""
    batch: type[BaseModel]
    """``PredictBatchRequest``: ``{"records": [...]}`` with at most max_batch records."""
    records: TypeAdapter[list[Any]]
    """A list of records (for the V2 protocol and simulated traffic)."""
    features: tuple[str, ...]
    """Feature names in field order."""
    plain_names: bool
    """True when every field is named after its feature (then ``__dict__`` is the record)."""

    def as_record(self, instance: BaseModel) -> dict[str, Any]:
        """A validated record as feature name -> value (no copy when names are plain)."""
        if self.plain_names:
            return instance.__dict__
        return dict(zip(self.features, instance.__dict__.values(), strict=True))


def _plain(name: str) -> bool:
    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith(("_", "model_"))
        and not hasattr(BaseModel, name)
    )


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.6g}"


def describe_feature(feature: Mapping[str, Any]) -> str:
    """The field description /docs shows for one schema feature."""
    missing = float(feature.get("missing_share") or 0.0)
    tail = f" null when the value is missing ({missing:.1%} missing in the training data)."
    if feature["kind"] == "numeric":
        return (
            f"Number. Training data: min {_number(feature.get('min'))}, "
            f"max {_number(feature.get('max'))}, mean {_number(feature.get('mean'))};" + tail
        )
    cats = [str(c) for c in feature.get("categories") or []]
    listed = ", ".join(repr(c) for c in cats[:_MAX_LISTED_CATEGORIES])
    if len(cats) > _MAX_LISTED_CATEGORIES:
        listed += f", … ({len(cats)} in all)"
    return (
        f"Category (string), one of {listed}. Any other string is accepted and counted as an "
        "unseen category (a drift signal);" + tail
    )


def build_request_models(
    schema: Mapping[str, Any], max_batch: int, example: Mapping[str, Any] | None = None
) -> RequestModels:
    """Generate the record and batch models of a schema (``features`` with ``kind``)."""
    fields: dict[str, Any] = {}
    names: list[str] = []
    plain = True
    for i, feature in enumerate(schema["features"]):
        name = str(feature["name"])
        kind = feature["kind"]
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {name!r} has unknown kind {kind!r}")
        annotation: Any = float | None if kind == "numeric" else str | None
        extra: dict[str, Any] = {"description": describe_feature(feature)}
        if example is not None and name in example:
            extra["examples"] = [example[name]]
        if _plain(name):
            fields[name] = (annotation, Field(..., **extra))
        else:
            plain = False
            fields[f"field_{i}"] = (annotation, Field(..., alias=name, **extra))
        names.append(name)
    config = ConfigDict(
        strict=True,
        allow_inf_nan=False,
        extra="ignore",
        protected_namespaces=(),
        json_schema_extra={"examples": [dict(example)]} if example else None,
    )
    title = str(schema.get("dataset") or "the data set")
    record = create_model(  # type: ignore[call-overload]
        "PredictRequest",
        __config__=config,
        __doc__=f"One record of {title}: every feature, null where the value is missing.",
        **fields,
    )
    batch = create_model(  # type: ignore[call-overload]
        "PredictBatchRequest",
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__=f"Up to {max_batch} records, predicted together.",
        records=(
            list[record],  # type: ignore[valid-type]
            Field(..., min_length=1, max_length=max_batch,
                  description=f"Records to predict (1 to {max_batch})."),
        ),
    )  # fmt: skip
    return RequestModels(
        record=record,
        batch=batch,
        records=TypeAdapter(list[record]),  # type: ignore[valid-type]
        features=tuple(names),
        plain_names=plain,
    )


def example_record(frame_row: Mapping[str, Any], features: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready example record from a data row (NaN -> null)."""
    out: dict[str, Any] = {}
    for name in features:
        value = frame_row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[name] = None
        elif hasattr(value, "item"):  # numpy scalar
            out[name] = value.item()
        else:
            out[name] = value
    return out
