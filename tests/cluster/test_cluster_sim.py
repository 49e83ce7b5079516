"""The cluster in miniature closes the loop (``make cluster-sim``, run as a test).

The rendered dev overlay's workloads run as local processes on 127.0.0.1 (stand-ins only
for MinIO, PostgreSQL's image and the Argo controllers); the shared scenario
(driftloop_cluster.sim.scenario) drives normal and drifted traffic, forged and replayed
events and two faults; every observed flow must be admitted by the rendered NetworkPolicies.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftloop_cluster.sim.__main__ import run
from driftloop_cluster.sim.standins import postgres_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.cluster_sim]


@pytest.mark.timeout(1500)
def test_the_miniature_cluster_closes_the_loop(tmp_path: Path) -> None:
    missing = postgres_available()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)  # .ci/run installs it: in CI its absence is a failure
        pytest.skip(missing)
    lines: list[str] = []
    _, scenario = run(ROOT, tmp_path, log=lines.append)
    failed = [f"{c.name}: {c.detail}" for c in scenario.checks if not c.passed]
    assert scenario.checks, "the scenario made no checks"
    assert not failed, "\n".join(["failed checks:", *failed, "", "log:", *lines])
