"""The data set spec: a YAML file loaded into frozen pydantic models that reject unknown keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from driftloop.config.errors import InputError

Task = Literal["binary_classification", "regression"]
ModelKind = Literal[
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
]
Metric = Literal["roc_auc", "pr_auc", "f1", "log_loss", "brier", "rmse", "mae", "r2"]

LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "brier", "rmse", "mae"})
CLASSIFICATION_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "f1", "log_loss", "brier")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SplitConfig(_Frozen):
    """How prepared data is split."""

    train: float = Field(0.7, gt=0, lt=1, description="Share of rows for training.")
    valid: float = Field(0.15, ge=0, lt=1, description="Share of rows for validation.")
    test: float = Field(0.15, gt=0, lt=1, description="Share of rows held out for testing.")
    seed: int = Field(42, description="Random seed of the split.")
    reference_rows: int = Field(
        5000, gt=0, description="Rows of training data kept as the drift reference."
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.valid + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split shares must sum to 1, got {total:g}")
        return self


class CandidateConfig(_Frozen):
    """One candidate model."""

    name: str = Field(description="Name of the candidate (MLflow run name).")
    kind: ModelKind = Field(description="Estimator family.")
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator parameters.")


DriftMode = Literal["threshold", "calibrated"]
ToleranceKind = Literal["relative", "absolute"]
SIGNALS: tuple[str, ...] = ("features", "performance", "estimated_performance", "prediction_drift")
"""What can fire on a window, in the order decisions list them."""


class PerformancePolicyConfig(_Frozen):
    """When the serving model's realised score on labelled production rows warrants a retrain.

    The degradation is how much worse the window scores than the model's own test-split score
    (the direction comes from the metric); it breaches when the lower bound of its bootstrap
    interval clears the tolerance, so a small noisy window does not fire.
    """

    enabled: bool = Field(True, description="Score the serving model on labelled rows.")
    trigger: bool = Field(True, description="A breach is a retrain reason on its own.")
    tolerance: float = Field(
        0.05, ge=0, description="Allowed degradation before a breach (see tolerance_kind)."
    )
    tolerance_kind: ToleranceKind = Field(
        "relative", description="relative: a share of the test score; absolute: metric units."
    )
    min_labelled_rows: int = Field(
        200, gt=0, description="Fewest labelled rows in the window before it is judged."
    )
    window_rows: int = Field(1000, gt=0, description="Newest labelled rows that are scored.")
    confidence: float = Field(
        0.95, gt=0.5, lt=1, description="One-sided bootstrap level the degradation must clear."
    )
    bootstrap_draws: int = Field(
        400, ge=50, le=5000, description="Bootstrap resamples of the labelled window."
    )
    seed: int = Field(0, description="Seed of the bootstrap (same window -> same verdict).")
    use_estimated: bool = Field(
        False,
        description="The estimated score (no labels needed: calibrated probabilities, or a "
        "model of the error) breaching the same tolerance is a retrain reason on its own.",
    )


class PredictionDriftConfig(_Frozen):
    """The model's output per window against its output on the reference."""

    enabled: bool = Field(True, description="Compare the output distributions.")
    trigger: bool = Field(False, description="Prediction drift is a retrain reason on its own.")


class DriftPolicyConfig(_Frozen):
    """driftloop's own rule for when drift warrants a retrain."""

    min_rows: int = Field(200, gt=0, description="Smallest window that can trigger a retrain.")
    window_rows: int = Field(1000, gt=0, description="Rows of the newest inference log checked.")
    drift_share: float = Field(
        0.2, gt=0, le=1, description="Share of drifted features that triggers."
    )
    key_features: tuple[str, ...] = Field((), description="Features whose drift alone triggers.")
    consecutive_windows: int = Field(
        1, ge=1, description="Drifting windows in a row needed to trigger."
    )
    cooldown_s: float = Field(
        600.0, ge=0, description="Seconds after a retrain during which no new one starts."
    )
    mode: DriftMode = Field(
        "threshold",
        description="threshold: one fixed distance for every feature (Evidently's default); "
        "calibrated: per-feature thresholds that hold alpha at the window's size.",
    )
    threshold: float = Field(
        0.1,
        gt=0,
        description="Fixed per-feature distance threshold (normed Wasserstein / JS), and the "
        "missing-share and unseen-category limits in both modes.",
    )
    alpha: float = Field(
        0.01, gt=0, lt=0.5, description="Calibrated: false-alarm rate per feature per window."
    )
    min_effect: float = Field(
        0.05,
        ge=0,
        description="Calibrated: effect-size floor; no feature drifts below this distance.",
    )
    null_draws: int = Field(
        500, ge=50, le=5000, description="Calibrated: resamples of the no-drift distribution."
    )
    min_category_rows: int = Field(
        10,
        ge=1,
        description="Calibrated: categories with fewer reference rows are pooled into one "
        "bucket (on both sides) before the statistic.",
    )
    retrain_alpha: float = Field(
        0.001,
        gt=0,
        lt=0.5,
        description="Calibrated: false-retrain rate per window of the feature signal. Key "
        "features are tested at retrain_alpha split over them (Holm, on the exact "
        "permutation test's p-values, the no-drift distribution's for screened-out features); "
        "the share rule needs as many drifted features as chance "
        "reaches with at most this probability.",
    )
    performance: PerformancePolicyConfig = Field(default_factory=PerformancePolicyConfig)
    prediction: PredictionDriftConfig = Field(default_factory=PredictionDriftConfig)
    features_trigger: bool = Field(True, description="Feature drift is a retrain reason.")


class GateConfig(_Frozen):
    """When a challenger may replace the champion."""

    margin: float = Field(0.0, ge=0, description="How much better the challenger must score.")
    recent_rows: int = Field(
        5000, gt=0, description="Newest labelled production rows in the evaluation set."
    )
    min_recent_rows: int = Field(
        100,
        gt=0,
        description="Held-out newest production rows the gate needs to decide on them alone; "
        "with fewer it decides on them plus the dataset's test split.",
    )
    confidence: float = Field(
        0.9,
        ge=0,
        lt=1,
        description="One-sided level of the paired bootstrap: the lower bound of the "
        "challenger's improvement on the first deciding set must clear the margin (0: compare "
        "point estimates only).",
    )
    bootstrap: int = Field(
        1000, ge=100, le=10000, description="Paired bootstrap resamples of the deciding rows."
    )
    seed: int = Field(0, description="Seed of the bootstrap (same rows -> same verdict).")

    @model_validator(mode="after")
    def _confidence_is_off_or_a_level(self) -> GateConfig:
        if self.confidence and self.confidence < 0.5:
            raise ValueError(
                f"confidence {self.confidence:g}: use 0 (point estimates) or a level in [0.5, 1)"
            )
        return self


class RetrainConfig(_Frozen):
    """How a retrain builds its training set."""

    recent_weight: float = Field(
        0.5, ge=0, lt=1, description="Share of total sample weight given to production rows."
    )
    holdout_share: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Share of the newest window's labelled rows (max(drift.window_rows, "
        "drift.min_rows)) held out for the gate: the newest ones; training gets the rest.",
    )
    lease_ttl_s: float = Field(
        600.0, gt=0, description="Lease expiry: a crashed retrain blocks others this long."
    )


class CostThreshold(_Frozen):
    """Pick the decision threshold that costs least on the validation split."""

    cost_fp: float = Field(gt=0, description="Cost of one false positive.")
    cost_fn: float = Field(gt=0, description="Cost of one false negative.")


ThresholdRule = Annotated[float, Field(gt=0, lt=1)] | Literal["max_f1"] | CostThreshold
"""A fixed probability, the F1-maximising cut-off, or the cheapest under given costs."""


class DatasetSpec(_Frozen):
    """A tabular data set and how to model it."""

    name: str = Field(description="Data set name.")
    source: Path = Field(description="CSV or Parquet file, relative to the spec's folder.")
    task: Task = Field("binary_classification", description="Learning task.")
    target: str = Field(description="Target column.")
    positive_class: str | None = Field(
        None, description="Target value that counts as positive (classification)."
    )
    numeric_features: tuple[str, ...] = Field(description="Numeric feature columns.")
    categorical_features: tuple[str, ...] = Field((), description="Categorical feature columns.")
    drop_columns: tuple[str, ...] = Field((), description="Columns dropped before anything else.")
    max_invalid_share: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest share of non-numeric cells a numeric column may hold before "
        "prepare refuses the data (below it they become missing).",
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    candidates: tuple[CandidateConfig, ...] = Field(description="Candidate models to train.")
    metric: Metric = Field("roc_auc", description="Metric that picks the best candidate.")
    threshold: ThresholdRule = Field(
        0.5,
        description="Binary decision threshold: a probability, max_f1, or {cost_fp, cost_fn}; "
        "chosen on the validation split and stored with the model.",
    )
    drift: DriftPolicyConfig = Field(default_factory=DriftPolicyConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        feats = self.features
        dupes = sorted({f for f in feats if feats.count(f) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {', '.join(dupes)}")
        if self.target in feats:
            raise ValueError(f"target {self.target!r} is also listed as a feature")
        if self.task == "binary_classification" and self.positive_class is None:
            raise ValueError("positive_class is required for binary_classification")
        valid = CLASSIFICATION_METRICS if self.is_classification else REGRESSION_METRICS
        if self.metric not in valid:
            raise ValueError(f"metric {self.metric!r} does not fit task {self.task!r}")
        if not self.is_classification and self.threshold != 0.5:
            raise ValueError("threshold applies to binary_classification only")
        if not self.candidates:
            raise ValueError("at least one candidate is required")
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError("candidate names must be unique")
        unknown = [k for k in self.drift.key_features if k not in feats]
        if unknown:
            raise ValueError(f"drift.key_features not among the features: {', '.join(unknown)}")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric_features + self.categorical_features

    @property
    def is_classification(self) -> bool:
        """True for classification tasks."""
        return self.task == "binary_classification"

    def with_source(self, source: Path) -> DatasetSpec:
        """A copy whose source is another file."""
        return self.model_copy(update={"source": source})


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = [f"invalid spec {path}:"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  unknown key '{where}'")
        else:
            lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def load_spec(path: Path) -> DatasetSpec:
    """Load and validate a spec; the source path is resolved against the spec's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"spec file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"spec {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"spec {path} must be a mapping of keys to values")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_format_validation_error(path, exc)) from exc
    if not spec.source.is_absolute():
        spec = spec.with_source((path.parent / spec.source).resolve())
    return spec
