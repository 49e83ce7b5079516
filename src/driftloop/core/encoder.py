"""Compile a fitted candidate pipeline into a vectorised predictor for the serving fast path.

A sklearn ``Pipeline`` with a ``ColumnTransformer`` spends milliseconds on one row, most of
it in pandas and input validation. Everything it computes is simple once fitted: imputation
fills NaN with a learnt value, scaling is ``(x - mean) / scale``, one-hot encoding is a
lookup. This module reads those fitted values and the estimator's own parameters into numpy
arrays, so a record becomes the same float64 matrix and the same prediction in microseconds.

Tree ensembles from scikit-learn (random forest, histogram gradient boosting) are flattened
into node arrays and walked level by level for all trees at once: their own ``predict_proba``
pays for validation and a thread pool on every call (tens of milliseconds for one row of a
200-tree forest with ``n_jobs=2``). LightGBM keeps its own predictor, pinned to one thread.

Missing categorical values follow scikit-learn exactly: ``None`` and NaN are different
categories, each known only if it was seen in training; anything unknown encodes as zeros.
``verify_compiled`` checks a compiled model against its pipeline before it is trusted.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from scipy.special import expit

from driftloop.config.errors import UnsupportedPipelineError
from driftloop.core.forest import hist_forest, sklearn_forest

if TYPE_CHECKING:
    import pandas as pd

Records: TypeAlias = Sequence[Mapping[str, Any]]
# Rows to predict: a list of records, or columns (feature -> values) as a mapping or frame.
Rows: TypeAlias = "Records | Mapping[str, Any] | pd.DataFrame"
_VERIFY_ONE_BY_ONE = 64  # rows verify_compiled also sends through the one-record path


@dataclass(frozen=True)
class VerificationResult:
    """How closely a compiled model reproduced its pipeline on a frame."""

    ok: bool
    max_abs_diff: float
    rows: int
    reason: str | None = None


@dataclass(frozen=True)
class _NumericBlock:
    """Imputer + scaler over some numeric columns, as arrays."""

    columns: tuple[str, ...]
    start: int
    fill: np.ndarray | None  # imputation value per column; None when there is no imputer
    mean: np.ndarray
    scale: np.ndarray

    @property
    def scalars(self) -> tuple[tuple[str, float, float, float], ...]:
        """(column, fill, mean, scale) as Python floats; fill is NaN without an imputer."""
        fill = np.full(len(self.columns), np.nan) if self.fill is None else self.fill
        floats = fill.tolist(), self.mean.tolist(), self.scale.tolist()
        return tuple(zip(self.columns, *floats, strict=True))


@dataclass(frozen=True)
class _OneHotFeature:
    """One categorical column: category -> output column."""

    name: str
    index: dict[Any, int]
    none_col: int  # -1 when None was not a training category
    nan_col: int  # -1 when NaN was not a training category

    def column_of(self, value: Any) -> int:
        col = self.index.get(value, -1)
        if col < 0:
            if value is None:
                return self.none_col
            if isinstance(value, numbers.Real) and math.isnan(value):
                return self.nan_col
        return col


class CompiledEncoder:
    """Turns records or columns into the matrix the fitted ColumnTransformer produces."""

    def __init__(
        self, numeric: Sequence[_NumericBlock], onehot: Sequence[_OneHotFeature], width: int
    ) -> None:
        self._numeric = tuple(numeric)
        self._onehot = tuple(onehot)
        self.width = width
        # Python floats do the same IEEE arithmetic as numpy, and for one row they are
        # several times faster than building and combining small arrays.
        self._scalars = tuple((b.start, b.scalars) for b in self._numeric)
        self.features = tuple(c for b in self._numeric for c in b.columns) + tuple(
            f.name for f in self._onehot
        )

    def encode_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """One record -> a (1, width) matrix; the cheapest path, used per request."""
        out = np.zeros((1, self.width))
        row = out[0]
        for start, scalars in self._scalars:
            values = []
            for name, fill, mean, scale in scalars:
                value = record[name]
                value = fill if value is None else float(value)
                if value != value:  # NaN
                    value = fill
                values.append((value - mean) / scale)
            row[start : start + len(values)] = values
        hot = [c for f in self._onehot if (c := f.column_of(record[f.name])) >= 0]
        row[hot] = 1.0
        return out

    def encode_records(self, records: Records) -> np.ndarray:
        """A list of records (feature -> value, None for missing) -> an (n, width) matrix."""
        if len(records) == 1:
            return self.encode_record(records[0])
        columns = {name: [r[name] for r in records] for name in self.features}
        return self.encode_columns(columns, rows=len(records))

    def encode_columns(
        self, columns: Mapping[str, Any] | pd.DataFrame, rows: int | None = None
    ) -> np.ndarray:
        """A mapping (or DataFrame) of feature -> column values -> an (n, width) matrix."""
        n = rows
        numeric: list[tuple[_NumericBlock, np.ndarray]] = []
        for block in self._numeric:
            cols = [np.asarray(columns[c], dtype=np.float64) for c in block.columns]
            for col in cols:
                n = _check_rows(n, len(col) if col.ndim == 1 else -1)
            numeric.append((block, np.stack(cols, axis=1) if cols else np.zeros((n or 0, 0))))
        categorical = []
        for feature in self._onehot:
            values = columns[feature.name]
            if isinstance(values, str | bytes) or not isinstance(values, Sized):
                n = _check_rows(n, -1)
            values = values.tolist() if hasattr(values, "tolist") else list(values)
            n = _check_rows(n, len(values))
            categorical.append([feature.column_of(v) for v in values])
        out = np.zeros((n or 0, self.width))
        for block, x in numeric:
            if block.fill is not None:
                x = np.where(np.isnan(x), block.fill, x)
            out[:, block.start : block.start + len(block.columns)] = (x - block.mean) / block.scale
        if categorical:
            hot = np.array(categorical, dtype=np.intp).T  # (n, features)
            rows_idx = np.broadcast_to(np.arange(hot.shape[0])[:, None], hot.shape)
            known = hot >= 0
            out[rows_idx[known], hot[known]] = 1.0
        return out


def _check_rows(expected: int | None, got: int) -> int:
    if got < 0:
        raise ValueError("columns must be one-dimensional; pass a list of records for rows")
    if expected is not None and got != expected:
        raise ValueError(f"columns have different lengths ({expected} and {got})")
    return got


Scorer = Callable[[np.ndarray], np.ndarray]


class CompiledModel:
    """A fitted pipeline as a numpy encoder plus a direct call into its estimator."""

    def __init__(
        self,
        encoder: CompiledEncoder,
        score: Scorer,
        kind: str,
        classes: np.ndarray | None,
    ) -> None:
        self.encoder = encoder
        self._score = score
        self.kind = kind
        self.classes_ = classes

    @property
    def is_classifier(self) -> bool:
        """True when the model gives probabilities."""
        return self.classes_ is not None

    def _encode(self, data: Rows) -> np.ndarray:
        if isinstance(data, Mapping) or hasattr(data, "columns"):
            return self.encoder.encode_columns(data)
        return self.encoder.encode_records(data)

    def _scores(self, data: Rows) -> np.ndarray:
        X = self._encode(data)
        if X.shape[0] == 0:
            return np.zeros(0)
        return self._score(X)

    def predict_proba(self, data: Rows) -> np.ndarray:
        """Probability of ``classes_[1]`` for each record (or row of a column mapping)."""
        if self.classes_ is None:
            raise TypeError(f"{self.kind} is a regression model; use predict")
        return self._scores(data)

    def predict(self, data: Rows) -> np.ndarray:
        """Regression values; for a classifier, the label whose probability is above 0.5."""
        scores = self._scores(data)
        if self.classes_ is None:
            return scores
        return self.classes_[(scores > 0.5).astype(np.intp)]


def _numeric_block(trans: Any, columns: tuple[str, ...], start: int) -> _NumericBlock:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]
    imputer = steps.pop(0) if steps and isinstance(steps[0], SimpleImputer) else None
    scaler = steps.pop(0) if steps and isinstance(steps[0], StandardScaler) else None
    if steps or (imputer is None and scaler is None):
        raise UnsupportedPipelineError(f"numeric transformer {trans!r} is not imputer + scaler")
    fill = None
    if imputer is not None:
        if imputer.add_indicator or not _is_nan(imputer.missing_values):
            raise UnsupportedPipelineError("imputer must fill NaN without indicator columns")
        fill = np.asarray(imputer.statistics_, dtype=np.float64)
        if np.isnan(fill).any():
            raise UnsupportedPipelineError("imputer dropped a column that was empty in training")
    mean = np.zeros(len(columns))
    scale = np.ones(len(columns))
    if scaler is not None:
        mean = scaler.mean_ if scaler.with_mean else mean
        scale = scaler.scale_ if scaler.with_std else scale
    return _NumericBlock(columns, start, fill, np.asarray(mean, float), np.asarray(scale, float))


def _onehot_features(trans: Any, columns: tuple[str, ...], start: int) -> list[_OneHotFeature]:
    if trans.drop is not None or trans.handle_unknown != "ignore":
        raise UnsupportedPipelineError("one-hot encoder must use drop=None, handle_unknown=ignore")
    if getattr(trans, "_infrequent_enabled", False):
        raise UnsupportedPipelineError("one-hot encoder groups infrequent categories")
    features = []
    for name, cats in zip(columns, trans.categories_, strict=True):
        index: dict[Any, int] = {}
        none_col = nan_col = -1
        for j, cat in enumerate(cats.tolist()):
            if cat is None:
                none_col = start + j
            elif _is_nan(cat):
                nan_col = start + j
            else:
                index[cat] = start + j
        features.append(_OneHotFeature(name, index, none_col, nan_col))
        start += len(cats)
    return features


def _is_nan(value: Any) -> bool:
    return isinstance(value, numbers.Real) and math.isnan(value)


def _compile_encoder(
    preprocess: Any, numeric: Sequence[str], categorical: Sequence[str]
) -> CompiledEncoder:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(preprocess, ColumnTransformer):
        kind = type(preprocess).__name__
        raise UnsupportedPipelineError(f"first step is {kind}, not a ColumnTransformer")
    if getattr(preprocess, "sparse_output_", False):
        raise UnsupportedPipelineError("ColumnTransformer produces a sparse matrix")
    blocks: list[_NumericBlock] = []
    onehot: list[_OneHotFeature] = []
    width = 0
    for name, trans, cols in preprocess.transformers_:
        columns = tuple(cols) if not isinstance(cols, str) else (cols,)
        if trans == "drop" or not columns:
            continue
        if not all(isinstance(c, str) for c in columns):
            raise UnsupportedPipelineError(f"transformer {name!r} selects columns by position")
        if isinstance(trans, OneHotEncoder):
            onehot.extend(_onehot_features(trans, columns, width))
            width += sum(len(c) for c in trans.categories_)
        elif trans == "passthrough":
            raise UnsupportedPipelineError(f"transformer {name!r} passes columns through")
        else:
            blocks.append(_numeric_block(trans, columns, width))
            width += len(columns)
    got_num = [c for b in blocks for c in b.columns]
    got_cat = [f.name for f in onehot]
    if sorted(got_num) != sorted(numeric) or sorted(got_cat) != sorted(categorical):
        raise UnsupportedPipelineError(
            f"pipeline encodes numeric {got_num} and categorical {got_cat}, "
            f"but the features are numeric {list(numeric)} and categorical {list(categorical)}"
        )
    return CompiledEncoder(blocks, onehot, width)


def _compile_scorer(model: Any) -> tuple[Scorer, str, np.ndarray | None]:
    """The estimator as a function of the encoded matrix, its kind and its classes."""
    from sklearn.base import is_classifier

    classification = is_classifier(model)
    classes = np.asarray(model.classes_) if classification else None
    if classes is not None and len(classes) != 2:
        raise UnsupportedPipelineError(f"classifier has {len(classes)} classes, not 2")
    family = type(model).__name__
    if family in ("LGBMClassifier", "LGBMRegressor"):
        if callable(model.objective_):
            raise UnsupportedPipelineError("LightGBM with a custom objective returns raw scores")
        from driftloop.core.lightgbm_scorer import LightGBMScorer

        scorer = LightGBMScorer(model.booster_, int(model.n_features_in_))
        return scorer, "lightgbm", classes
    if family == "LogisticRegression":
        coef, intercept = model.coef_[0].copy(), float(model.intercept_[0])
        ovr = getattr(model, "multi_class", "auto") in ("ovr", "warn", "auto", "deprecated")
        # sklearn's binary "multinomial" is a softmax over (-d, d), i.e. expit(2d)
        factor = 1.0 if ovr else 2.0
        return (lambda X: expit(factor * (X @ coef + intercept))), "logistic_regression", classes
    if family in ("Ridge", "LinearRegression"):
        if np.ndim(model.coef_) != 1:
            raise UnsupportedPipelineError("linear model with several targets")
        coef, intercept = model.coef_.copy(), float(model.intercept_)
        return (lambda X: X @ coef + intercept), "linear_regression", classes
    if family in ("RandomForestClassifier", "RandomForestRegressor"):
        forest = sklearn_forest(model, classification)
        trees = float(len(model.estimators_))
        return (lambda X: forest.total(X) / trees), "random_forest", classes
    if family in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        link = type(model._loss.link).__name__
        if link != ("LogitLink" if classification else "IdentityLink"):
            raise UnsupportedPipelineError(f"hist gradient boosting with a {link} loss link")
        forest = hist_forest(model)
        baseline = float(np.ravel(model._baseline_prediction)[0])
        if classification:
            return (lambda X: expit(baseline + forest.total(X))), "hist_gradient_boosting", classes
        return (lambda X: baseline + forest.total(X)), "hist_gradient_boosting", classes
    raise UnsupportedPipelineError(f"no compiled path for estimator {family}")


def compile_pipeline(
    pipeline: Any, numeric: Sequence[str], categorical: Sequence[str]
) -> CompiledModel:
    """Compile a fitted ``preprocess`` + ``model`` pipeline; raise UnsupportedPipelineError."""
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise UnsupportedPipelineError("expected a Pipeline of a ColumnTransformer and a model")
    preprocess, model = pipeline.steps[0][1], pipeline.steps[1][1]
    try:
        encoder = _compile_encoder(preprocess, numeric, categorical)
        score, kind, classes = _compile_scorer(model)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        # unfitted, or a library version whose fitted internals look different
        raise UnsupportedPipelineError(f"cannot read the fitted pipeline: {exc!r}") from exc
    expected = getattr(model, "n_features_in_", encoder.width)
    if expected != encoder.width:
        raise UnsupportedPipelineError(
            f"encoder gives {encoder.width} columns, the model expects {expected}"
        )
    return CompiledModel(encoder, score, kind, classes)


def verify_compiled(
    compiled: CompiledModel, pipeline: Any, frame: pd.DataFrame, atol: float = 1e-6
) -> VerificationResult:
    """Compare the compiled model with the pipeline on every row of ``frame``.

    All rows go through the batch path; the first rows also go one by one through the
    one-record path that serves requests, which is separate code.
    """
    rows = len(frame)
    if rows == 0:
        return VerificationResult(False, math.inf, 0, "no rows to verify on")
    if compiled.is_classifier:
        expected = np.asarray(pipeline.predict_proba(frame))[:, 1]
    else:
        expected = np.asarray(pipeline.predict(frame), dtype=np.float64)
    predict = compiled.predict_proba if compiled.is_classifier else compiled.predict
    records = frame[list(compiled.encoder.features)].iloc[:_VERIFY_ONE_BY_ONE].to_dict("records")
    try:
        got = predict(frame)
        one_by_one = np.array([predict([record])[0] for record in records])
    except (KeyError, TypeError, ValueError) as exc:
        return VerificationResult(False, math.inf, rows, f"compiled model failed: {exc!r}")
    diff = max(
        float(np.max(np.abs(got - expected))),
        float(np.max(np.abs(one_by_one - expected[: len(records)]))),
    )
    if not diff <= atol:  # NaN counts as a mismatch
        return VerificationResult(False, diff, rows, f"max abs difference {diff:.3g} > {atol:g}")
    return VerificationResult(True, diff, rows)
