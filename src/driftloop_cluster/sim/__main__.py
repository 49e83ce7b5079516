"""``python -m driftloop_cluster.sim``: bring the miniature up, run the scenario, print the
table; exit 1 when a check fails or a flow would be dropped by a NetworkPolicy."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from driftloop_cluster.sim.access import SimAccess
from driftloop_cluster.sim.cluster import SimCluster
from driftloop_cluster.sim.report import print_report
from driftloop_cluster.sim.scenario import Scenario


def run(root: Path, work: Path, log=print) -> tuple[SimCluster, Scenario]:  # type: ignore[no-untyped-def]
    """Start, run the scenario, add the flow checks, stop; the cluster and the scenario."""
    sim = SimCluster(root, work)
    scenario = Scenario(cluster=None, log=log)  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        sim.start()
        log(f"cluster up in {time.monotonic() - started:.0f} s")
        for pod, tail in sim.not_ready.items():
            lines = [line for line in tail.splitlines() if line.strip()]
            errors = [line for line in lines if "Error" in line] or lines or ["no log"]
            scenario.check(f"{pod} ready", False, errors[-1])
        scenario.cluster = SimAccess(sim)
        scenario.rows = sample_rows(root)
        scenario.run()
    finally:
        for flow, verdict in sim.verdicts():
            scenario.check(f"flow {flow.client} -> {flow.service}:{flow.port} admitted",
                           verdict.admitted, verdict.reason)  # fmt: skip
        sim.stop()
    log(f"scenario done in {time.monotonic() - started:.0f} s")
    return sim, scenario


def sample_rows(root: Path, n: int = 5) -> list[dict[str, object]]:
    """A few complete rows of the demo data set (features only), as JSON records."""
    import pandas as pd

    from driftloop.config.spec import load_spec
    from driftloop.core.prepare import clean_frame

    spec = load_spec(root / "configs" / "telco.yaml")
    frame, _ = clean_frame(pd.read_csv(root / "data" / "telco_churn.csv"), spec)
    frame = frame.dropna(subset=list(spec.features)).tail(n)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame[list(spec.features)].to_dict(orient="records")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftloop_cluster.sim")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="driftloop-sim-"))
    try:
        sim, scenario = run(Path.cwd(), work)
        print_report(sim, scenario)
    finally:
        if args.keep:
            print(f"logs kept in {work}/logs")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = [c for c in scenario.checks if not c.passed]
    print(f"{len(scenario.checks) - len(failed)} checks passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
