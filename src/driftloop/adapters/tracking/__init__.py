"""MLflow behind one package: experiments, runs, the model registry, aliases and loading.

Models are logged with skops and an explicit list of trusted types (PITFALLS: the default
skops format refuses a ColumnTransformer otherwise) and explicit pip requirements (log_model
takes ~3 s when MLflow infers them). At registration a sha256 of the model's files is
recorded as a version tag; loading verifies it, so a tampered or truncated artifact is
refused.

Every call goes through one ``MlflowClient`` built with this tracker's URIs, or an MLflow
function given them explicitly: nothing sets or reads MLflow's process-wide tracking or
registry URI (``mlflow.set_tracking_uri``, ``MLFLOW_TRACKING_URI``), so two trackers on two
registries in one process each see only their own. The active run is this tracker's own
(per thread), not MLflow's fluent one.

``runs`` logs runs and logged models, ``registry`` holds ``Tracker`` (runs plus versions,
aliases and verified loading), ``model_files`` writes and hashes model folders, ``outage``
tells an unreachable server from an answer.
"""

from driftloop.adapters.tracking.model_files import ARTIFACT_SHA_TAG, SKOPS_TRUSTED_TYPES, hash_tree
from driftloop.adapters.tracking.outage import TrackingUnavailableError, tracking_outage
from driftloop.adapters.tracking.registry import ModelLoadError, ModelVersionInfo, Tracker

__all__ = [
    "ARTIFACT_SHA_TAG",
    "SKOPS_TRUSTED_TYPES",
    "ModelLoadError",
    "ModelVersionInfo",
    "Tracker",
    "TrackingUnavailableError",
    "hash_tree",
    "tracking_outage",
]
