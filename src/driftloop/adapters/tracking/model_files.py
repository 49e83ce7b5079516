"""A pipeline as MLflow model files: how it is written (skops with an explicit list of trusted
types, explicit pip requirements, signature and input example) and the sha256 over the
files that registration records and loading checks."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

SKOPS_TRUSTED_TYPES = [
    "collections.OrderedDict",
    "collections.defaultdict",
    "numpy.dtype",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn.utils._bunch.Bunch",
]
ARTIFACT_SHA_TAG = "artifact_sha256"


def _requirements() -> list[str]:
    pkgs = ["mlflow", "scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "skops"]
    return [f"{p}=={md.version(p)}" for p in pkgs]


def hash_tree(root: Path) -> str:
    """sha256 over the relative paths and bytes of every file under a folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def save_pipeline(
    pipeline: Any, example: pd.DataFrame, classification: bool, dst: Path, model: Any, run_id: str
) -> None:
    """Write a pipeline as an MLflow model folder for logged model ``model`` of a run: skops
    with the trusted types, explicit requirements, a signature and an input example."""
    import mlflow.sklearn
    from mlflow.models import Model, infer_signature

    example = example.head(20)
    output = pipeline.predict_proba(example) if classification else pipeline.predict(example)
    meta = Model(artifact_path=model.artifact_location, model_uuid=model.model_id,
                 run_id=run_id, model_id=model.model_id)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mlflow.sklearn.save_model(
            pipeline,
            str(dst),
            mlflow_model=meta,
            signature=infer_signature(example, output),
            input_example=example.head(3),
            pip_requirements=_requirements(),
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pyfunc_predict_fn="predict_proba" if classification else "predict",
        )


def write_registered_meta(folder: Path, name: str, version: str) -> None:
    """The ``registered_model_meta`` file ``download_artifacts("models:/<name>/<version>")``
    adds to a model folder; the recorded sha256 covers it."""
    from mlflow.utils.yaml_utils import write_yaml

    meta = {"model_name": name, "model_version": str(version)}
    write_yaml(str(folder), "registered_model_meta", meta, overwrite=True,
               ensure_yaml_extension=False)  # fmt: skip
