"""The compiled serving path reproduces each candidate pipeline on real telco rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from driftloop.config.spec import CandidateConfig, DatasetSpec, load_spec
from driftloop.core.candidates import build_pipeline
from driftloop.core.encoder import (
    UnsupportedPipelineError,
    compile_pipeline,
    verify_compiled,
)

ROOT = Path(__file__).resolve().parents[2]

# Small models: the point is the compiled arithmetic, not the model quality.
CLASSIFIERS = {
    "logistic_regression": {"C": 1.0, "max_iter": 1000},
    "random_forest": {"n_estimators": 12, "min_samples_leaf": 5, "n_jobs": 1, "random_state": 0},
    "hist_gradient_boosting": {"max_iter": 15, "random_state": 0},
    "lightgbm": {
        "n_estimators": 15,
        "num_leaves": 7,
        "n_jobs": 1,
        "random_state": 0,
        "verbose": -1,
    },
}
REGRESSORS = {
    "linear_regression": {"alpha": 1.0},
    "random_forest": {"n_estimators": 8, "min_samples_leaf": 5, "n_jobs": 1, "random_state": 0},
    "hist_gradient_boosting": {"max_iter": 15, "random_state": 0},
    "lightgbm": {
        "n_estimators": 15,
        "num_leaves": 7,
        "n_jobs": 1,
        "random_state": 0,
        "verbose": -1,
    },
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread: spinning thread teams crawl on 2 cores shared with other tests."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def spec() -> DatasetSpec:
    return load_spec(ROOT / "configs" / "telco.yaml")


@pytest.fixture(scope="module")
def telco(spec: DatasetSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): holdout rows carry every kind of missing and unseen value."""
    frame = pd.read_csv(ROOT / "data" / "telco_churn.csv")
    for col in spec.numeric_features:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in spec.categorical_features:
        frame[col] = frame[col].astype(object)
    train = frame.iloc[:2000].copy()
    # Training sees NaN in payment_method and None in contract, so those are categories.
    train.loc[train.index[:20], "payment_method"] = np.nan
    train.loc[train.index[20:40], "contract"] = None
    holdout = frame.iloc[5000:5300].copy()
    rows = holdout.index
    holdout.loc[rows[0:5], "tenure"] = np.nan
    holdout.loc[rows[5:10], "monthly_charges"] = None
    holdout.loc[rows[10:15], "payment_method"] = np.nan  # known missing category
    holdout.loc[rows[15:20], "payment_method"] = None  # unknown: None never seen in training
    holdout.loc[rows[20:25], "contract"] = None  # known missing category
    holdout.loc[rows[25:30], "contract"] = np.nan  # unknown: NaN never seen in training
    holdout.loc[rows[30:35], "internet_service"] = "Carrier pigeon"  # unseen category
    holdout.loc[rows[35:40], "tech_support"] = None
    holdout.loc[rows[40], list(spec.features)] = None  # a row with nothing at all
    return train, holdout


@pytest.fixture(scope="module")
def classifier(spec: DatasetSpec, telco) -> Callable[[str], Pipeline]:
    """Fit each classifier kind once per module; tests only read the fitted pipelines."""
    fitted: dict[str, Pipeline] = {}

    def fit(kind: str) -> Pipeline:
        if kind not in fitted:
            fitted[kind] = _fit(spec, telco[0], kind, CLASSIFIERS[kind])
        return fitted[kind]

    return fit


def _fit(spec: DatasetSpec, train: pd.DataFrame, kind: str, params: dict[str, Any]) -> Pipeline:
    pipeline = build_pipeline(spec, CandidateConfig(name=kind, kind=kind, params=params))  # type: ignore[arg-type]
    return pipeline.fit(train[list(spec.features)], train[spec.target])


def _regression_spec(spec: DatasetSpec) -> DatasetSpec:
    numeric = tuple(c for c in spec.numeric_features if c != "total_charges")
    raw = spec.model_dump() | {
        "task": "regression",
        "target": "total_charges",
        "positive_class": None,
        "numeric_features": numeric,
        "metric": "rmse",
        "drift": spec.drift.model_dump() | {"key_features": ["tenure"]},
    }
    return DatasetSpec.model_validate(raw)


@pytest.mark.parametrize("kind", sorted(CLASSIFIERS))
def test_compiled_classifier_matches_pipeline(
    spec: DatasetSpec, telco, classifier, kind: str
) -> None:
    _, holdout = telco
    pipeline = classifier(kind)
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    assert compiled.kind == kind
    assert list(compiled.classes_) == ["No", "Yes"] == list(pipeline.classes_)

    result = verify_compiled(compiled, pipeline, holdout)
    assert result.ok, result
    assert result.rows == len(holdout) and result.max_abs_diff <= 1e-6

    expected = pipeline.predict_proba(holdout)[:, 1]
    records = holdout[list(spec.features)].to_dict("records")
    np.testing.assert_allclose(compiled.predict_proba(records), expected, rtol=0, atol=1e-9)
    for i in (0, 12, 17, 22, 27, 32, 40, 99):  # the one-record path, incl. each odd value
        got = compiled.predict_proba([records[i]])
        assert got.shape == (1,)
        assert got[0] == pytest.approx(expected[i], abs=1e-9)
    np.testing.assert_array_equal(compiled.predict(records), pipeline.predict(holdout))


@pytest.mark.parametrize("kind", sorted(REGRESSORS))
def test_compiled_regressor_matches_pipeline(spec: DatasetSpec, telco, kind: str) -> None:
    train, holdout = telco
    reg_spec = _regression_spec(spec)
    train = train.dropna(subset=[reg_spec.target])
    pipeline = _fit(reg_spec, train, kind, REGRESSORS[kind])
    compiled = compile_pipeline(pipeline, reg_spec.numeric_features, reg_spec.categorical_features)
    assert compiled.classes_ is None and not compiled.is_classifier
    result = verify_compiled(compiled, pipeline, holdout)
    assert result.ok, result
    records = holdout[list(reg_spec.features)].to_dict("records")
    got = compiled.predict([records[3]])
    assert got[0] == pytest.approx(pipeline.predict(holdout.iloc[[3]])[0], abs=1e-6)
    with pytest.raises(TypeError, match="regression"):
        compiled.predict_proba(records)


@pytest.mark.parametrize("kind", ["random_forest", "hist_gradient_boosting", "lightgbm"])
def test_trees_route_missing_numbers_like_the_estimator(
    spec: DatasetSpec, telco, kind: str
) -> None:
    """Without an imputer NaN reaches the trees, which send it down their learnt side."""
    train, holdout = telco
    train = train.copy()
    train.loc[train.index[::7], "tenure"] = np.nan
    pipeline = build_pipeline(spec, CandidateConfig(name=kind, kind=kind, params=CLASSIFIERS[kind]))  # type: ignore[arg-type]
    preprocess: ColumnTransformer = pipeline[0]
    preprocess.transformers[0] = ("num", StandardScaler(), list(spec.numeric_features))
    pipeline.fit(train[list(spec.features)], train[spec.target])
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    result = verify_compiled(compiled, pipeline, holdout)
    assert result.ok, result
    one = holdout[list(spec.features)].iloc[[2]].to_dict("records")  # tenure is NaN
    assert compiled.predict_proba(one)[0] == pytest.approx(
        pipeline.predict_proba(holdout.iloc[[2]])[0, 1], abs=1e-9
    )


def test_encoder_reproduces_column_transformer(spec: DatasetSpec, telco, classifier) -> None:
    _, holdout = telco
    pipeline = classifier("logistic_regression")
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    expected = pipeline[0].transform(holdout)
    np.testing.assert_array_equal(compiled.encoder.encode_columns(holdout), expected)
    columns = {c: holdout[c].tolist() for c in spec.features}  # a plain mapping of lists
    np.testing.assert_array_equal(compiled.encoder.encode_columns(columns), expected)
    records = holdout[list(spec.features)].to_dict("records")
    np.testing.assert_array_equal(compiled.encoder.encode_records(records), expected)
    np.testing.assert_array_equal(compiled.encoder.encode_record(records[27]), expected[[27]])
    # unknown and unseen-missing values encode as all zeros in their block, like sklearn
    assert compiled.encoder.encode_record(records[32]).sum() == expected[32].sum()


def test_bad_inputs_are_refused(spec: DatasetSpec, telco, classifier) -> None:
    _, holdout = telco
    pipeline = classifier("logistic_regression")
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    record = holdout[list(spec.features)].iloc[0].to_dict()
    with pytest.raises(ValueError, match="list of records"):
        compiled.predict_proba(record)  # one record is not a column mapping
    with pytest.raises(KeyError, match="tenure"):
        compiled.predict_proba([{k: v for k, v in record.items() if k != "tenure"}])
    assert compiled.predict_proba([]).shape == (0,)


def test_verify_reports_a_mismatch(spec: DatasetSpec, telco, classifier) -> None:
    _, holdout = telco
    compiled = compile_pipeline(
        classifier("lightgbm"),
        spec.numeric_features,
        spec.categorical_features,
    )
    other = classifier("logistic_regression")
    result = verify_compiled(compiled, other, holdout)
    assert not result.ok and result.max_abs_diff > 1e-3 and result.reason
    empty = verify_compiled(compiled, other, holdout.iloc[:0])
    assert not empty.ok and empty.rows == 0


def test_unsupported_pipelines_raise(spec: DatasetSpec, telco, classifier) -> None:
    train, _ = telco
    X, y = train[list(spec.features)], train[spec.target]
    num, cat = spec.numeric_features, spec.categorical_features

    knn = build_pipeline(
        spec, CandidateConfig(name="lr", kind="logistic_regression", params={"max_iter": 1000})
    )
    knn.steps[-1] = ("model", KNeighborsClassifier(n_neighbors=3))
    with pytest.raises(UnsupportedPipelineError, match="KNeighborsClassifier"):
        compile_pipeline(knn.fit(X, y), num, cat)

    drop_first = build_pipeline(
        spec, CandidateConfig(name="lr", kind="logistic_regression", params={"max_iter": 1000})
    )
    preprocess: ColumnTransformer = drop_first[0]
    preprocess.transformers[1] = ("cat", OneHotEncoder(drop="first"), list(cat))
    with pytest.raises(UnsupportedPipelineError, match="drop=None"):
        compile_pipeline(drop_first.fit(X, y), num, cat)

    fitted = classifier("logistic_regression")
    with pytest.raises(UnsupportedPipelineError, match="features are numeric"):
        compile_pipeline(fitted, num[:-1], cat)
    with pytest.raises(UnsupportedPipelineError, match="Pipeline"):
        compile_pipeline(fitted[-1], num, cat)

    unfitted = build_pipeline(
        spec, CandidateConfig(name="lr", kind="logistic_regression", params={"max_iter": 1000})
    )
    with pytest.raises(UnsupportedPipelineError, match="fitted"):
        compile_pipeline(unfitted, num, cat)

    three_classes = y.where(X["contract"] != "Two year", "Maybe")
    lr = build_pipeline(
        spec, CandidateConfig(name="lr", kind="logistic_regression", params={"max_iter": 1000})
    )
    with pytest.raises(UnsupportedPipelineError, match="3 classes"):
        compile_pipeline(lr.fit(X, three_classes), num, cat)


def test_lightgbm_one_row_c_path_equals_the_booster_from_several_threads(
    spec: DatasetSpec, telco, classifier
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from driftloop.core.lightgbm_scorer import LightGBMScorer

    _, holdout = telco
    pipeline = classifier("lightgbm")
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    X = compiled.encoder.encode_columns(holdout[list(spec.features)])
    X[::7, 0] = np.nan  # missing values take the trees' default branches
    booster = pipeline[-1].booster_
    expected = booster.predict(X, num_threads=1)
    scorer = LightGBMScorer(booster, X.shape[1])
    with ThreadPoolExecutor(4) as pool:
        got = np.concatenate(list(pool.map(lambda i: scorer(X[i : i + 1]), range(len(X)))))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scorer(X[:50]), expected[:50], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="encoded columns"):
        scorer(X[:1, :-1])
