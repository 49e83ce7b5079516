"""What a drift check can reuse from the last one, kept in the store under ``drift-cache/``:

    drift-cache/null/<reference-id>/<window>-<settings>.json     calibrated thresholds
    drift-cache/outputs/<reference-id>/v<model-version>.parquet  the model's output on the
                                                                 reference (prediction drift)
    drift-cache/estimators/<run-id>.json                         a training run's performance
                                                                 estimator (from MLflow)

A reference id is a hash of the reference rows themselves, so a new dataset version or a
different ``--reference-data-path`` file never reads another's entries. Entries are written
whole and only ever replaced by the same content, so concurrent checks cannot corrupt them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from driftloop.adapters.store import ObjectStore
from driftloop.config.errors import NotFoundError

PREFIX = "drift-cache"


def reference_id(reference: pd.DataFrame) -> str:
    """A short content hash of the reference rows (column names and values)."""
    digest = hashlib.sha256(",".join(map(str, reference.columns)).encode())
    digest.update(pd.util.hash_pandas_object(reference, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _settings_tag(settings: dict[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def thresholds_key(ref_id: str, window_rows: int, settings: dict[str, Any]) -> str:
    """Key of the calibrated thresholds of one reference, window size and settings."""
    return f"{PREFIX}/null/{ref_id}/{window_rows}-{_settings_tag(settings)}.json"


def read_entry(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """A cached JSON entry (thresholds, an estimator), or None when there is none (or it is
    unreadable)."""
    try:
        data = store.read_json(key)
    except (NotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_entry(store: ObjectStore, key: str, entry: dict[str, Any]) -> None:
    """Cache a JSON-ready mapping."""
    store.write_json(key, entry)


def outputs_key(ref_id: str, model_version: str) -> str:
    """Key of a model version's outputs on one reference."""
    return f"{PREFIX}/outputs/{ref_id}/v{model_version}.parquet"


def read_outputs(store: ObjectStore, key: str) -> np.ndarray | None:
    """Cached outputs on the reference, or None."""
    try:
        frame = store.read_parquet(key)
    except (NotFoundError, ValueError):
        return None
    return frame["output"].to_numpy(dtype=np.float64) if "output" in frame else None


def write_outputs(store: ObjectStore, key: str, outputs: np.ndarray) -> None:
    """Cache a model's outputs on the reference."""
    store.write_parquet(key, pd.DataFrame({"output": np.asarray(outputs, dtype=np.float64)}))


def estimator_key(run_id: str) -> str:
    """Key of the performance estimator a model version's training run logged."""
    return f"{PREFIX}/estimators/{run_id}.json"
