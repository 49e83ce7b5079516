"""A retrain after the world changed, and the first check after its promotion: the gate
decides on the newest held-out labelled rows (time order), the new dataset version's
reference is the newest rows (the changed world, not a mix of before and after), and the
monitor's next window counts only rows the new version served, against that reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from .test_retrain import labelled_file

pytestmark = pytest.mark.e2e


def changed_world(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Dearer plans, and long-tenure month-to-month customers churn (a new relation)."""
    world = frame.copy()
    world["monthly_charges"] = world["monthly_charges"] * 1.5 + 20
    world["churn"] = (
        (world["tenure"] > 30) & (world["contract"] == "Month-to-month")
        | (rng.random(len(world)) < 0.05)
    ).astype(int)
    return world


def stamped(frame: pd.DataFrame, start: datetime) -> pd.DataFrame:
    return frame.assign(ts=[start + timedelta(seconds=i) for i in range(len(frame))])


def log_rows(store, frame: pd.DataFrame, version: str, start: datetime, tag: str) -> None:
    """Rows in the inference log as the server writes them, served by ``version``."""
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key

    rows = stamped(frame.drop(columns=["churn"]), start).assign(
        request_id=[f"{tag}-{i}" for i in range(len(frame))], model_version=version,
        source="api", prediction="No", probability=0.2)  # fmt: skip
    store.write_parquet(segment_key(INFERENCE_PREFIX, start, new_segment_id(start)), rows)


def test_the_gate_and_the_next_window_see_the_changed_world(fresh_state, tmp_path):
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.spec import load_spec
    from driftloop.jobs.detect import detect_drift
    from driftloop.jobs.retrain import retrain_model

    rng = np.random.default_rng(1)
    valid, test = fresh_state.split("valid"), fresh_state.split("test")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    before = stamped(valid.iloc[:600], t0)
    after = stamped(changed_world(pd.concat([test, valid], ignore_index=True), rng),
                    t0 + timedelta(hours=1))  # fmt: skip
    # newest first in the file: the split must follow the time, not the file's order
    path = labelled_file(tmp_path, pd.concat([after, before], ignore_index=True), "w.parquet")
    settings = fresh_state.settings()
    store = ObjectStore.from_settings(settings)
    tracker, spec = Tracker(settings, store), load_spec(fresh_state.spec)
    old = fresh_state.champion()

    result = retrain_model(spec, store, tracker, current_data_path=path)

    window = max(spec.drift.window_rows, spec.drift.min_rows)
    held = round(spec.retrain.holdout_share * window)  # of the newest window, not of all rows
    assert held < len(after)  # so every held-out row is from the changed world
    gate = result.gate or {}
    assert gate["evaluation"] == f"the newest {held} held-out production rows", gate
    assert gate["evaluation_rows"] == held
    assert set(gate["scores"]) == {"recent", "test", "recent+test"}
    assert gate["scores"]["recent"]["challenger"] == gate["challenger_score"]
    # won on the newest rows, with confidence; the other sets are scored and recorded
    assert gate["scores"]["recent"]["challenger"] > gate["scores"]["recent"]["champion"], gate
    assert gate["interval"]["lower_bound"] > spec.gate.margin, gate
    assert {"challenger", "champion"} <= set(gate["scores"]["test"])
    assert result.rows["recent_train"] == len(before) + len(after) - held
    assert result.status == "promoted", result.reason
    new = fresh_state.champion()
    assert new == result.challenger_version != old
    reference = open_dataset(store, result.dataset_version).frame("reference")
    assert len(reference) == max(spec.drift.window_rows, spec.drift.min_rows)
    # the newest rows: all from the changed world (charges 1.5x + 20)
    assert reference["monthly_charges"].min() >= valid["monthly_charges"].min() * 1.5 + 20 - 1e-6

    # after the promotion: 300 late rows still answered by the old version, 600 by the new
    world = changed_world(valid, rng)
    log_rows(store, world.iloc[:300], old, t0 + timedelta(hours=2), "late")
    log_rows(store, world.iloc[300:900], new, t0 + timedelta(hours=3), "new")
    check = detect_drift(spec, store, tracker, report=False)
    assert check.model_version == new and check.dataset_version == result.dataset_version
    assert check.window.rows == 600  # only the new version's rows
    assert check.decision is not None and not check.decision.retrain, check.reason
    assert "monthly_charges" not in check.decision.key_features_drifted
    features = check.decision.signals[0].details  # calibrated: the decision's own rate
    assert features["rule"] == "holm" and features["retrain_alpha"] == spec.drift.retrain_alpha
    assert set(features["p_values"]) >= {"monthly_charges", "tenure"}
