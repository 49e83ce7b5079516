from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.config.errors import InputError
from driftloop.config.spec import CandidateConfig, DatasetSpec
from driftloop.core.prepare import (
    clean_frame,
    dataset_version,
    describe_schema,
    sample_reference,
    split_frame,
)


def make_spec(**kw) -> DatasetSpec:
    base = dict(
        name="t",
        source="x.csv",
        target="y",
        positive_class="Yes",
        numeric_features=("a", "b"),
        categorical_features=("c",),
        candidates=(CandidateConfig(name="lr", kind="logistic_regression"),),
        split={"train": 0.6, "valid": 0.2, "test": 0.2, "seed": 1, "reference_rows": 30},
    )
    base.update(kw)
    return DatasetSpec.model_validate(base)


def raw_frame(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": [str(v) for v in rng.integers(0, 100, n)],
            "b": [f"{v:.2f}" for v in rng.normal(size=n)],
            "c": rng.choice(["x", "y", "z"], n),
            "y": rng.choice(["Yes", "No"], n),
        }
    )


def test_clean_turns_blanks_and_isolated_garbage_into_missing_and_counts_them():
    raw = raw_frame()
    raw.loc[0, "a"] = " "
    raw.loc[1, "b"] = "n/a"
    raw.loc[2, "c"] = "  x  "
    frame, summary = clean_frame(raw, make_spec())
    assert summary.blank_to_missing == {"a": 1}
    assert summary.invalid_to_missing == {"b": 1}
    assert summary.strings_stripped == 1
    assert frame["a"].dtype == np.float64 and frame["b"].dtype == np.float64
    assert np.isnan(frame.loc[0, "a"]) and np.isnan(frame.loc[1, "b"])
    assert frame.loc[2, "c"] == "x"
    assert set(frame["y"].unique()) <= {0, 1}


def test_clean_drops_duplicates_and_rows_without_target():
    raw = raw_frame()
    raw = pd.concat([raw, raw.iloc[:5]], ignore_index=True)
    raw.loc[10, "y"] = ""
    frame, summary = clean_frame(raw, make_spec())
    assert summary.duplicates_dropped == 5
    assert summary.missing_target_dropped == 1
    assert summary.rows_out == len(frame) == 99


def test_garbage_numeric_column_is_an_error_naming_it():
    raw = raw_frame()
    raw.loc[:40, "b"] = "garbage"
    with pytest.raises(InputError, match="numeric column 'b'.*garbage"):
        clean_frame(raw, make_spec())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["y"]), "target column 'y' is not in the data"),
        (lambda f: f.drop(columns=["c"]), "not in the data: c"),
        (lambda f: f.assign(y="No"), "one class"),
        (lambda f: f.assign(y=["A", "B", "C", "D"] * 25), "4 classes"),
    ],
)
def test_bad_frames_raise_input_errors(mutate, message):
    with pytest.raises(InputError, match=message):
        clean_frame(mutate(raw_frame()), make_spec())


def test_split_is_stratified_and_complete():
    frame, _ = clean_frame(raw_frame(400), make_spec())
    parts = split_frame(frame, make_spec())
    assert sum(len(p) for p in parts.values()) == len(frame)
    rate = frame["y"].mean()
    for p in parts.values():
        assert abs(p["y"].mean() - rate) < 0.05
    assert len(parts["test"]) == pytest.approx(0.2 * len(frame), abs=2)
    ref = sample_reference(parts["train"], make_spec())
    assert len(ref) == 30


def test_schema_lists_types_categories_and_ranges():
    frame, _ = clean_frame(raw_frame(), make_spec())
    schema = describe_schema(frame, make_spec(), ["No", "Yes"])
    feats = {f["name"]: f for f in schema["features"]}
    assert feats["a"]["kind"] == "numeric" and feats["a"]["min"] <= feats["a"]["max"]
    assert feats["c"]["categories"] == ["x", "y", "z"]
    assert schema["target"]["classes"] == ["No", "Yes"]


def test_version_depends_on_data_and_shaping_spec_only():
    spec = make_spec()
    v = dataset_version("abc", spec)
    assert v == dataset_version("abc", spec)
    assert v != dataset_version("abd", spec)
    assert v != dataset_version("abc", make_spec(split={"train": 0.5, "valid": 0.25, "test": 0.25}))
    other_models = make_spec(candidates=(CandidateConfig(name="rf", kind="random_forest"),))
    assert v == dataset_version("abc", other_models)
