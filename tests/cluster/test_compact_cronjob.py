"""The compact CronJob, as rendered, compacts the store it is wired to.

The dev overlay's CronJob runs as its Job's pod would (``SimCluster.run_cronjob``: the
rendered command and env, Secrets and ConfigMap resolved, Service names pointed at the
object store stand-in through a recording proxy), against segments logged today and
yesterday; every row is still read afterwards, and the one flow it opened (to the object
store) is admitted by the rendered NetworkPolicies. The full loop, with the segments the
scenario's traffic wrote and the API's monitor reading them, is the cluster-sim scenario's
last step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftloop.adapters.production_data import (
    INFERENCE_PREFIX,
    new_segment_id,
    read_inference_log,
    segment_key,
)
from driftloop_cluster.sim.cluster import SimCluster
from driftloop_cluster.sim.flows import Flow
from driftloop_cluster.sim.scenario import COMPACTED
from driftloop_cluster.sim.store_view import inference_log_view, open_store

from ..support.paths import ROOT
from .conftest import find

COMPACT = "argo/driftloop-compact"


def test_the_compact_cronjob_is_wired_like_the_detect_cronjob(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay, objs in rendered.items():
        compact = find(objs, "CronJob", "driftloop-compact", "argo")["spec"]
        detect = find(objs, "CronJob", "driftloop-detect", "argo")["spec"]
        assert compact["concurrencyPolicy"] == "Forbid", overlay
        pods = [c["jobTemplate"]["spec"]["template"] for c in (compact, detect)]
        for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext"):
            assert pods[0]["spec"][key] == pods[1]["spec"][key], (overlay, key)
        ours, theirs = (p["spec"]["containers"][0] for p in pods)
        assert ours["command"] == ["driftloop", "compact"]
        for key in ("image", "envFrom", "securityContext", "resources", "volumeMounts"):
            assert ours[key] == theirs[key], (overlay, key)
        env = {e["name"]: e for e in ours["env"]}
        # the store's credentials only: no webhook secret, no admin token
        assert set(env) == {"DRIFTLOOP_STATE_DIR", "DRIFTLOOP_S3__ACCESS_KEY_ID",
                            "DRIFTLOOP_S3__SECRET_ACCESS_KEY"}  # fmt: skip
        config = find(objs, "ConfigMap", "driftloop-config", "argo")["data"]
        assert {k for k in config if k.startswith("DRIFTLOOP_RETENTION__")} == {
            "DRIFTLOOP_RETENTION__INFERENCE_DAYS", "DRIFTLOOP_RETENTION__REPORT_DAYS",
            "DRIFTLOOP_RETENTION__HTML_DAYS", "DRIFTLOOP_RETENTION__COMPACT_AFTER_DAYS",
        }  # fmt: skip


def _log(store: Any, first: datetime, n: int, tag: str) -> None:
    for i in range(n):
        at = first + timedelta(minutes=i)
        frame = pd.DataFrame({"request_id": [f"{tag}-{i}-{j}" for j in range(3)],
                              "ts": [at + timedelta(seconds=j) for j in range(3)],
                              "model_version": "1", "source": "api", "x": float(i)})  # fmt: skip
        store.write_parquet(segment_key(INFERENCE_PREFIX, at, new_segment_id(at)), frame)


@pytest.mark.timeout(300)
def test_the_rendered_compact_cronjob_compacts_through_the_object_store_only(
    tmp_path: Path,
) -> None:
    sim = SimCluster(ROOT, tmp_path)
    try:
        sim.start_store()
        store = open_store(sim.store_settings(COMPACT))
        now = datetime.now(UTC).replace(microsecond=0)
        _log(store, now - timedelta(days=1, minutes=30), 4, "yesterday")
        _log(store, now - timedelta(minutes=10), 3, "today")
        before = read_inference_log(store)
        code, output = sim.run_cronjob(COMPACT)
        assert code == 0, output
        assert "compacted 7 segments into 2 daily files" in output  # dev: today's too
        view = inference_log_view(store)
        assert len(view.keys) == 2 and all(COMPACTED in k for k in view.keys), view.keys
        pd.testing.assert_frame_equal(read_inference_log(store), before)
        assert sim.rows[-1].runs_as == "real: driftloop compact"
        verdicts = [(f, v) for f, v in sim.verdicts() if f.client == COMPACT]
        assert [f for f, _ in verdicts] == [Flow(COMPACT, "minio/minio", 9000)]
        assert all(v.admitted for _, v in verdicts), [v.reason for _, v in verdicts]
    finally:
        sim.stop()
