"""What the drift check's work costs serving, apart from anything the monitor does in the server.

One monitor-off ``driftloop serve`` is loaded with wrk in paired rounds (ABBA order): alone,
and with a *checker* process beside it that runs the monitor's own check
(``serve.window_check.WindowChecker``, what the worker process runs) on a ``--rows``-row
window of logged test-split rows every ``--period`` seconds, at the worker's priority (nice
19, Linux's idle scheduling class). Between the "with" runs the checker is stopped
(SIGSTOP), so "alone" has no check work at all. Prints each round and the median of the
rounds' with / alone, and the checker's share of a core: the cost of the check's CPU, cache
and memory traffic on serving, with the same server process in both halves of a round (so a
process's own speed cancels out). Needs a trained champion (``make run-model-training``).
Usage::

    uv run python benchmarks/check_interference.py --rounds 6 --period 2.5 --rows 16000
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monitor import cpu_seconds, logged_segment, serve_target, test_records  # noqa: E402
from serve import ROOT, run_wrk, wait_ready  # noqa: E402

SEGMENT_ROWS = 2_000
"""Rows per logged segment (the server's default ``log_flush_rows``)."""


def checker_loop(period: float, rows: int) -> None:
    """The checker process: the worker's priority, a window of ``rows`` logged rows, a check
    every ``period`` seconds (prints "ready" once the reference is prepared)."""
    from datetime import UTC, datetime, timedelta

    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.serve.check_worker import lower_priority_to
    from driftloop.serve.window_check import CheckRequest, WindowChecker

    settings = Settings()
    lower_priority_to(settings.server.monitor_nice)
    tracker = Tracker(settings, ObjectStore.from_settings(settings))
    info = tracker.alias_version("champion")
    if info is None:
        raise SystemExit("no champion: run `make run-model-training` first")
    store = ObjectStore.from_settings(settings)
    ds = open_dataset(store, str(info.dataset_version))
    test = ds.frame("test")[[f["name"] for f in ds.schema()["features"]]]
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(max(1, rows // SEGMENT_ROWS)):
        sample = test.sample(SEGMENT_ROWS, replace=True, random_state=i).reset_index(drop=True)
        first = start + timedelta(seconds=i)
        store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)),
                            logged_segment(sample, info.version, first))  # fmt: skip
    checker = WindowChecker(settings, store, tracker)
    request = CheckRequest(info, info.version, rows)
    checker.check(request)  # prepares the reference (once per model version)
    print("ready", flush=True)
    while True:
        began = time.monotonic()
        checker.check(request)
        time.sleep(max(0.0, period - (time.monotonic() - began)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--period", type=float, default=2.5, help="seconds between checks")
    parser.add_argument("--rows", type=int, default=16_000, help="rows per checked window")
    parser.add_argument("--checker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.checker:
        checker_loop(args.period, args.rows)
        return 0
    import serve

    from driftloop.config.settings import Settings

    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-interference-"))
    (tmp / "record.json").write_text(test_records(settings))
    serve.LUA = ROOT / "benchmarks" / "wrk" / "post_records.lua"
    target = serve_target("monitor-off", tmp / "record.json", 0, tmp, 0)
    # the checker's window and reports go to a store of its own (the server's stays as it is)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DRIFTLOOP_STORE_URL": (tmp / "checker-store").as_uri()}  # fmt: skip
    checker: subprocess.Popen[str] | None = None
    ratios: list[float] = []
    try:
        wait_ready(target)
        run_wrk(target, 2, args.connections, 1)  # warm-up
        checker = start_checker(settings, env, args)
        for r in range(args.rounds):
            got: dict[str, float] = {}
            for mode in ("alone", "with") if r % 2 == 0 else ("with", "alone"):
                got[mode] = one_run(target, checker if mode == "with" else None, args, r, mode)
            ratios.append(got["with"] / got["alone"])
    finally:
        if checker is not None:
            checker.kill()
        if target.proc is not None and target.proc.poll() is None:
            target.proc.terminate()
            target.proc.wait(30)
    print(
        f"serving with the check's work beside it / alone: median of the rounds "
        f"{statistics.median(ratios):.1%} (" + ", ".join(f"{x:.1%}" for x in ratios) + ")"
    )
    return 0


def start_checker(
    settings: Any, env: dict[str, str], args: argparse.Namespace
) -> subprocess.Popen[str]:
    """The checker process, reference prepared, then stopped until a "with" run."""
    import shutil

    store = Path(env["DRIFTLOOP_STORE_URL"].removeprefix("file://"))
    source = Path(settings.store.removeprefix("file://"))
    shutil.copytree(source, store, ignore=lambda d, names: [n for n in names if Path(d) ==
                    source and n in ("inference", "feedback", "reports", "events",
                                     "retrains")])  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, __file__, "--checker", "--period", str(args.period), "--rows",
         str(args.rows)], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the checker process did not start")
    proc.send_signal(signal.SIGSTOP)
    return proc


def one_run(
    target: Any, checker: subprocess.Popen[str] | None, args: argparse.Namespace, r: int,
    mode: str,
) -> float:  # fmt: skip
    """One wrk run of the server, with the checker running (resumed for it) or stopped."""
    assert target.proc is not None
    if checker is not None:
        checker.send_signal(signal.SIGCONT)
    used = (cpu_seconds(checker.pid) if checker else 0.0, cpu_seconds(target.proc.pid))
    res = run_wrk(target, args.duration, args.connections, 1)
    after = (cpu_seconds(checker.pid) if checker else 0.0, cpu_seconds(target.proc.pid))
    if checker is not None:
        checker.send_signal(signal.SIGSTOP)
    share = (after[0] - used[0]) / args.duration
    server = 1e6 * (after[1] - used[1]) / max(res.requests, 1)
    print(f"round {r + 1} {mode:5s} {res.requests_per_s:9.1f} req/s  p99 {res.p99_ms:6.2f} ms  "
          f"server CPU {server:.1f} ms / 1,000 requests  checker {share:.1%} of a core",
          flush=True)  # fmt: skip
    return float(res.requests_per_s)


if __name__ == "__main__":
    raise SystemExit(main())
