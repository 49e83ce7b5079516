"""Build the sklearn pipeline (preprocessing + estimator) for a candidate.

Every candidate has the same shape, which the serving fast path relies on::

    Pipeline([
        ("preprocess", ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer(median)), ("scale", StandardScaler())]),
             numeric_features),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             categorical_features),
        ])),
        ("model", estimator),
    ])
"""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftloop.config.spec import CandidateConfig, DatasetSpec


def build_preprocessor(spec: DatasetSpec) -> ColumnTransformer:
    """Imputation and scaling for numbers, one-hot encoding for categories."""
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.numeric_features:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("num", numeric, list(spec.numeric_features)))
    if spec.categorical_features:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("cat", onehot, list(spec.categorical_features)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_estimator(candidate: CandidateConfig, classification: bool) -> Any:
    """The estimator a candidate names, with its parameters."""
    params = dict(candidate.params)
    kind = candidate.kind
    if kind == "lightgbm":
        import lightgbm as lgb

        cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
        return cls(**params)
    if kind == "logistic_regression":
        if not classification:
            raise ValueError("logistic_regression needs a classification task")
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**params)
    if kind == "linear_regression":
        if classification:
            raise ValueError("linear_regression needs a regression task")
        from sklearn.linear_model import Ridge

        return Ridge(**params)
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classification else RandomForestRegressor
        return cls(**params)
    if kind == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        return cls(**params)
    raise ValueError(f"unknown model kind {kind!r}")


def build_pipeline(spec: DatasetSpec, candidate: CandidateConfig) -> Pipeline:
    """Preprocessing and estimator as one pipeline, so training and serving cannot disagree."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(spec)),
            ("model", build_estimator(candidate, spec.is_classification)),
        ]
    )
