"""Request and response models of the service's fixed shapes (the record shape is generated
from the dataset schema: see ``request_models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from driftloop.core.simulate import DriftType


class PredictResponse(BaseModel):
    """One prediction."""

    request_id: str = Field(description="Id of this prediction (uuid4 hex); use it for /feedback.")
    prediction: str | float = Field(
        description="Predicted class label (classification) or value (regression)."
    )
    probability: float | None = Field(
        description="Probability of the positive class (null for regression)."
    )
    model_version: str = Field(description="Registry version of the model that answered.")


class BatchPrediction(BaseModel):
    """One record's prediction within a batch."""

    request_id: str = Field(description="Id of this record's prediction (uuid4 hex).")
    prediction: str | float = Field(description="Predicted class label or value.")
    probability: float | None = Field(description="Positive-class probability (classification).")


class PredictBatchResponse(BaseModel):
    """Predictions of a batch, in the order of the records."""

    model_version: str = Field(description="Registry version of the model that answered.")
    predictions: list[BatchPrediction]


class FeedbackLabel(BaseModel):
    """The true outcome of one prediction."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=64, description="request_id of a prediction.")
    label: str = Field(
        min_length=1, max_length=256,
        description="True class label (one of the model's classes) or value (regression).",
    )  # fmt: skip


class FeedbackRequest(BaseModel):
    """Ground-truth labels by request id."""

    model_config = ConfigDict(extra="forbid")
    labels: list[FeedbackLabel] = Field(min_length=1, max_length=10_000)


class FeedbackResponse(BaseModel):
    """Where the labels went."""

    accepted: int = Field(description="Labels stored.")
    key: str = Field(description="Object-store key of the feedback segment.")
    spooled: bool = Field(description="True when the store was unreachable and it waits locally.")


class SimulateDriftRequest(BaseModel):
    """Drifted traffic built from held-out rows."""

    model_config = ConfigDict(extra="forbid")
    drift_type: DriftType = Field(
        description="none, numerical_shift (continuous features * 1.5 + 20% of their range), "
        "categorical_shift (75% of rows to each feature's rarest category), missing_values "
        "(30% of cells null), new_category (50% of rows get a category never seen), concept "
        "(features as drawn; where the numeric feature most correlated with the target is "
        "above its median, 70% of labels flip, or regression targets rise by one standard "
        "deviation), gradual (numerical_shift scaled by call number: 1/10 of it at the first "
        "call on this server, all of it from the 10th), prior (60% of rows from the positive "
        "class, or from the upper half of regression targets), shift_and_concept (numerical_shift "
        "and concept together: the inputs and their relation to the target move)."
    )
    n: int = Field(200, ge=1, le=10_000, description="Number of requests to send.")
    seed: int | None = Field(None, ge=0, description="Random seed, 0 or more (repeatable runs).")
    restart: bool = Field(
        False, description="gradual: start the run again at its first step (1/10 of the shift)."
    )


class SimulateDriftResponse(BaseModel):
    """What the simulation sent."""

    drift_type: str
    sent: int = Field(description="Requests predicted and logged (source 'simulate').")
    feedback: int = Field(description="True labels stored as feedback for them.")
    model_version: str
    predictions: dict[str, int] = Field(description="Count of each predicted class.")
    request_ids: list[str]
    step: int | None = Field(None, description="gradual: this call's step (1, 2, ...).")
    intensity: float = Field(
        1.0, description="Share of the full shift applied (gradual: grows with the step)."
    )


class ReloadResponse(BaseModel):
    """Result of an explicit registry check."""

    champion_version: str | None
    serving_version: str | None
    previous_version: str | None
    changed: bool
    error: str | None


class ErrorResponse(BaseModel):
    """An error with a message (Open Inference Protocol form)."""

    error: str


# -- Open Inference Protocol (V2) ----------------------------------------------------------
class V2Tensor(BaseModel):
    """A named tensor: one feature column (or one output)."""

    name: str
    shape: list[int]
    datatype: str = Field(description="BOOL, INT*, UINT*, FP16/32/64 or BYTES.")
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="Values in row-major order (nested lists allowed).")


class V2RequestedOutput(BaseModel):
    """An output the client wants."""

    name: str
    parameters: dict[str, Any] | None = None


class V2InferenceRequest(BaseModel):
    """Open Inference Protocol request: one input per feature column.

    The MLServer pandas codec form (``parameters.content_type = "pd"``, one input per
    column, strings as BYTES) is the same shape and is accepted as-is.
    """

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2Tensor] = Field(min_length=1)
    outputs: list[V2RequestedOutput] | None = None


class V2InferenceResponse(BaseModel):
    """Open Inference Protocol response: prediction, probability and request_id columns."""

    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[V2Tensor]


class V2TensorMetadata(BaseModel):
    """Name, type and shape of one input or output."""

    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None


class V2ModelMetadata(BaseModel):
    """Open Inference Protocol model metadata."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]
    parameters: dict[str, Any] | None = None


class V2ServerMetadata(BaseModel):
    """Open Inference Protocol server metadata."""

    name: str
    version: str
    extensions: list[str]
