"""Pure parts of retraining: labels, the feedback join, the hold-out split, the training set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.config.errors import InputError
from driftloop.config.spec import DatasetSpec
from driftloop.core.retraining import (
    encode_labels,
    holdout_rows,
    join_feedback,
    newest_holdout,
    newest_rows,
    normalise_labelled,
    training_set,
)

from .test_prepare import make_spec as spec_of


def make_spec(**kw) -> DatasetSpec:
    return spec_of(numeric_features=("a",), **kw)


def inference_log(n: int) -> pd.DataFrame:
    ts = pd.date_range("2026-01-01", periods=n, freq="s", tz="UTC")
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": ts,
            "a": np.arange(n, dtype=float),
            "c": ["x"] * n,
        }  # fmt: skip
    )


def feedback(labels: list[object]) -> pd.DataFrame:
    ts = pd.date_range("2026-01-02", periods=len(labels), freq="s", tz="UTC")
    return pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(len(labels))], "ts": ts, "label": labels}
    )


@pytest.mark.parametrize(
    "labels",
    [[0, 1, 1, 0], ["0", "1", "1", "0"], [0.0, 1.0, 1.0, 0.0], [False, True, True, False]],
    ids=["ints", "strings", "floats", "bools"],
)
def test_zero_one_labels_with_a_named_positive_class(labels: list[object]) -> None:
    """The bug: with positive class "Yes", 0/1 labels all became 0."""
    joined = join_feedback(inference_log(4), feedback(labels), make_spec())
    assert joined["y"].tolist() == [0, 1, 1, 0]
    assert joined["y"].dtype == "int64"


def test_class_name_labels() -> None:
    joined = join_feedback(inference_log(4), feedback(["No", "Yes", " Yes ", "No"]), make_spec())
    assert joined["y"].tolist() == [0, 1, 1, 0]


def test_mixed_names_and_numbers_agree() -> None:
    joined = join_feedback(inference_log(4), feedback(["Yes", "1", "No", "0"]), make_spec())
    assert joined["y"].tolist() == [1, 1, 0, 0]


def test_unusable_labels_are_dropped() -> None:
    joined = join_feedback(inference_log(5), feedback(["Yes", "", None, "2", "0"]), make_spec())
    assert joined["request_id"].tolist() == ["r0", "r4"]
    assert joined["y"].tolist() == [1, 0]


def test_positive_class_that_is_itself_a_number() -> None:
    spec = make_spec(positive_class="1")
    assert encode_labels(pd.Series([1, 0, "1", "0", "x"]), spec).tolist()[:4] == [1, 0, 1, 0]
    assert np.isnan(encode_labels(pd.Series(["x"]), spec).iloc[0])


def test_newest_label_wins_and_unlabelled_rows_are_left_out() -> None:
    fb = pd.concat([feedback(["Yes", "No"]), feedback(["No"])], ignore_index=True)
    fb.loc[2, "ts"] = pd.Timestamp("2026-02-01", tz="UTC")  # a later label for r0
    joined = join_feedback(inference_log(3), fb, make_spec())
    assert joined.set_index("request_id")["y"].to_dict() == {"r0": 0, "r1": 0}
    assert list(joined.columns) == ["request_id", "ts", "a", "c", "y"]


def test_regression_labels_are_numbers() -> None:
    spec = make_spec(task="regression", positive_class=None, metric="rmse")
    joined = join_feedback(inference_log(3), feedback(["1.5", "x", 3]), spec)
    assert joined["y"].tolist() == [1.5, 3.0]


def test_empty_inputs_give_an_empty_frame_with_the_columns() -> None:
    joined = join_feedback(inference_log(0), feedback([]), make_spec())
    assert joined.empty and list(joined.columns) == ["request_id", "ts", "a", "c", "y"]


def test_normalise_labelled_file_with_zero_one_and_names() -> None:
    frame = pd.DataFrame({"a": ["1", "2", "x"], "c": ["p", None, "q"], "y": ["1", "No", 0]})
    out = normalise_labelled(frame, make_spec())
    assert out["y"].tolist() == [1, 0, 0]
    assert out["a"].dtype == "float64" and np.isnan(out["a"].iloc[2])
    assert out["c"].iloc[1] is None


def test_normalise_labelled_names_the_bad_labels() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "c": ["p", "q"], "y": ["Yes", "7"]})
    with pytest.raises(InputError, match="'y'.*7"):
        normalise_labelled(frame, make_spec())


def test_the_gate_holds_out_the_newest_rows_whatever_their_order() -> None:
    ts = pd.Series(pd.date_range("2026-01-01", periods=10, freq="h", tz="UTC"))
    shuffled = ts.sample(frac=1, random_state=0).reset_index(drop=True)
    held = newest_holdout(shuffled, 3)
    assert sorted(shuffled[held]) == list(ts.iloc[7:])
    assert not newest_holdout(ts, 0).any() and newest_holdout(ts, 99).all()
    # equal times (a file without them): the later rows are the newer ones
    same = pd.Series(["2026-01-01T00:00:00Z"] * 4)
    assert newest_holdout(same, 2).tolist() == [False, False, True, True]
    frame = pd.DataFrame({"ts": shuffled, "i": range(10)})
    assert list(newest_rows(frame, 3)["ts"]) == list(ts.iloc[7:])


def test_the_holdout_is_a_share_of_the_newest_window_so_training_sees_the_change() -> None:
    # 2,000 labelled rows, the change in the newest 400: half of all rows would hold out
    # every changed row; half of the newest window leaves 200 of them to train on
    assert holdout_rows(2000, 400, 0.5) == 200
    assert holdout_rows(300, 1000, 0.5) == 150
    assert holdout_rows(0, 1000, 0.5) == 0


def test_training_set_weights_recent_rows_to_their_share() -> None:
    spec = make_spec()
    base = pd.DataFrame({"a": np.zeros(900), "c": ["x"] * 900, "y": [0] * 900})
    recent = pd.DataFrame({"a": np.ones(100), "c": ["z"] * 100, "y": [1] * 100, "ts": 0})
    combined, weights = training_set(base, recent, spec, recent_weight=0.5)
    assert list(combined.columns) == ["a", "c", "y"] and len(combined) == 1000
    assert weights[:900].tolist() == [1.0] * 900
    assert weights[900:].sum() == pytest.approx(weights[:900].sum())


def test_training_set_never_down_weights_recent_rows() -> None:
    spec = make_spec()
    base = pd.DataFrame({"a": np.zeros(10), "c": ["x"] * 10, "y": [0] * 10})
    recent = pd.DataFrame({"a": np.ones(100), "c": ["z"] * 100, "y": [1] * 100})
    _, weights = training_set(base, recent, spec, recent_weight=0.1)
    assert (weights == 1.0).all()
    _, none = training_set(base, recent.head(0), spec, recent_weight=0.5)
    assert len(none) == 10
