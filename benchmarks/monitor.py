"""The in-server drift monitor: what a check costs and what it costs serving.

Prints three figures (not asserted on):

1. **CPU seconds per in-server check of a 1,000-row window** (target <= 0.3 s): the
   monitor's ``run_once`` in this process, on a copy of the state's datasets in a temp
   store, after a first check that prepares the reference; ``time.process_time`` around
   each check (the report JSON, the decision's history reads and the event are included).
2. **Serving throughput with the monitor on vs off** (target >= 95%; the monitor's checks in
   its worker process, the default, and with ``--thread`` also in a thread of the server, in
   the same rounds): ``driftloop serve``
   loaded with wrk (``benchmarks/wrk/post_records.lua``: a different test-split record per
   request, so the traffic is healthy and no retrain starts), monitor
   every 1,000 rows (minimum interval ``--min-interval``, the default 30 s; 0 for
   back-to-back checks) vs monitor off; every round starts fresh servers and loads each in
   turn.
   Two figures of the ratio: the best round of each server, and the median over rounds of
   each round's on / off (the runs of a round are back to back, in ABBA order, so a shared
   machine's load moves them alike). Beside them the same ratios of a second monitor-off
   server (an A/A control): what two identical servers differ by on this machine, the
   noise the on / off figure has to be read against. Beside it, the serving process's CPU
   per 1,000 requests (``/proc``, median over rounds) on vs off, and the worker's CPU per
   1,000 rows: what the monitor takes from the serving process itself.
3. **Windows covered / windows due** in the monitor-on runs (target 100%), from ``GET
   /drift`` once the log is flushed, with the request rate wrk reached.

Needs a trained champion in the state folder (``make run-model-training``). Usage::

    uv run python benchmarks/monitor.py --checks 20 --duration 10 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import ROOT, Target, free_port, run_wrk, wait_ready  # noqa: E402

HISTORY = ("inference", "feedback", "reports", "events", "retrains")
CONTROL = "monitor-off-2"
"""A second monitor-off server: its ratio to the first is the noise of the machine."""


def logged_segment(rows: Any, version: str, start: datetime) -> Any:
    """Test-split rows as one inference-log segment of the serving version."""
    frame = rows.copy()
    frame.insert(0, "source", "api")
    frame.insert(0, "model_version", version)
    frame.insert(0, "ts", [start + timedelta(milliseconds=i) for i in range(len(frame))])
    frame.insert(0, "request_id", [f"{start:%H%M%S%f}-{i}" for i in range(len(frame))])
    frame["prediction"], frame["probability"] = "No", 0.1
    return frame


def check_cpu(settings: Any, checks: int) -> list[float]:
    """CPU seconds of each in-process check of a fresh 1,000-row window."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.serve.monitor import DriftMonitor

    source = ObjectStore.from_settings(settings)
    tracker = Tracker(settings, source)
    info = tracker.alias_version("champion")
    if info is None:
        raise SystemExit("no champion: run `make run-model-training` first")
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-monitor-bench-"))
    root = source.url.removeprefix("file://")
    shutil.copytree(root, tmp / "store", ignore=lambda d, names: [n for n in names
                    if d == root and n in HISTORY])  # fmt: skip
    store = ObjectStore((tmp / "store").as_uri())
    ds = open_dataset(store, info.dataset_version)
    features = [f["name"] for f in ds.schema()["features"]]
    test = ds.frame("test")[features]
    holder = SimpleNamespace(current=SimpleNamespace(version=info.version, info=info))
    monitor = DriftMonitor(settings, tracker, 1000, store=store, holder=holder)
    seconds = []
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        for n in range(checks + 1):
            rows = test.sample(1000, replace=True, random_state=n).reset_index(drop=True)
            first = start + timedelta(seconds=n)
            store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)),
                                logged_segment(rows, info.version, first))  # fmt: skip
            monitor.coverage.rows_logged += 1000
            cpu = time.process_time()
            monitor.run_once()
            if n:  # the first check prepares the reference (once per model version)
                seconds.append(time.process_time() - cpu)
        monitor.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return seconds


def test_records(settings: Any, n: int = 5000) -> str:
    """Test-split records, one JSON object a line: traffic like the reference (no drift, so
    no retrain is started and no HTML rendered: the steady state of a healthy model)."""
    import json

    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

    store = ObjectStore.from_settings(settings)
    info = Tracker(settings, store).alias_version("champion")
    assert info is not None
    ds = open_dataset(store, str(info.dataset_version))
    features = [f["name"] for f in ds.schema()["features"]]
    rows = ds.frame("test")[features].sample(n, replace=True, random_state=0).astype(object)
    rows = rows.where(rows.notna(), None)
    return "\n".join(json.dumps(r, default=str) for r in rows.to_dict(orient="records"))


def drift_coverage(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """The monitor's coverage once every due window has been checked (or the timeout)."""
    deadline = time.time() + timeout
    coverage: dict[str, Any] = {}
    while time.time() < deadline:
        coverage = httpx.get(url + "/drift", timeout=10).json().get("coverage") or {}
        if (
            coverage
            and coverage["windows_covered"] + coverage["windows_skipped"] >= coverage["windows_due"]
        ):
            break
        time.sleep(1)
    return coverage


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checker_pid(target: Target) -> int | None:
    """The pid of the process the target's checks run in (its worker, or itself)."""
    drift = httpx.get(target.url.rsplit("/", 1)[0] + "/drift", timeout=10).json()
    return (drift.get("checker") or {}).get("pid")


def serve_target(
    name: str, body: Path, every_rows: int, logs: Path, interval: float, in_process: bool = False
) -> Target:
    port = free_port()
    target = Target(name, [sys.executable, "-m", "driftloop", "serve", "--port", str(port),
                           "--workers", "1"],
                    f"http://127.0.0.1:{port}/predict", body, "/health/ready")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS": str(every_rows),
           "DRIFTLOOP_SERVER__MONITOR_MIN_INTERVAL_S": str(interval),
           "DRIFTLOOP_SERVER__MONITOR_PROCESS": str(not in_process).lower(),
           "DRIFTLOOP_SERVER__RELOAD_INTERVAL_S": "0"}  # fmt: skip
    target.proc = subprocess.Popen(target.argv, cwd=ROOT, env=env,
                                   stdout=(logs / f"{name}.log").open("wb"),
                                   stderr=subprocess.STDOUT)  # fmt: skip
    return target


def target_names(args: argparse.Namespace) -> list[str]:
    """The servers of a round: monitor on (worker process), on in a server thread
    (``--thread``), the A/A control, monitor off (last: what the others are divided by)."""
    return ["monitor-on", *(["thread-on"] if args.thread else []),
            *([] if args.no_control else [CONTROL]), "monitor-off"]  # fmt: skip


def round_targets(body: Path, logs: Path, args: argparse.Namespace, round_no: int) -> list[Target]:
    """Fresh servers for one round, started in an order shuffled per round (so which server
    starts first, and gets what memory and cores, is not always the same one)."""
    made = {"monitor-on": lambda: serve_target("monitor-on", body, 1000, logs, args.min_interval),
            "thread-on": lambda: serve_target("thread-on", body, 1000, logs, args.min_interval,
                                              True),
            CONTROL: lambda: serve_target(CONTROL, body, 0, logs, 0),
            "monitor-off": lambda: serve_target("monitor-off", body, 0, logs, 0)}  # fmt: skip
    names = target_names(args)
    started = {name: made[name]() for name in random.Random(round_no).sample(names, len(names))}
    return [started[name] for name in names]


def stop_all(targets: list[Target]) -> None:
    for t in targets:
        if t.proc is not None and t.proc.poll() is None:
            t.proc.terminate()
            t.proc.wait(30)


def add_coverage(total: dict[str, int], got: dict[str, Any]) -> None:
    for key in ("windows_due", "windows_covered", "windows_coalesced", "windows_skipped"):
        total[key] = total.get(key, 0) + int(got.get(key) or 0)


def throughput(settings: Any, args: argparse.Namespace) -> None:
    """wrk against the server with the monitor on and off; the monitor's coverage.

    Every round starts fresh servers (and ends them): on this VM one server process can run
    ~10 % slower than an identical one for its whole life (its memory layout, hash seed,
    where the scheduler put it), and a server kept for all rounds would count that luck
    as the monitor's. Within a round the runs are back to back, in ABBA order over rounds.
    """
    import serve

    tmp = Path(tempfile.mkdtemp(prefix="driftloop-monitor-wrk-"))
    (tmp / "record.json").write_text(test_records(settings))
    serve.LUA = ROOT / "benchmarks" / "wrk" / "post_records.lua"  # a different record each
    body = tmp / "record.json"
    names = target_names(args)
    best: dict[str, float] = {}
    rates: dict[str, list[float]] = {n: [] for n in names}
    cost: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    coverage: dict[str, dict[str, int]] = {n: {} for n in names}
    for r in range(args.rounds):
        targets = round_targets(body, tmp, args, r)
        try:
            for t in targets:
                wait_ready(t)
                run_wrk(t, 2, args.connections, 1)  # warm-up
            for t in targets if r % 2 == 0 else targets[::-1]:  # ABBA: a trend moves both
                assert t.proc is not None
                monitored = t.name in ("monitor-on", "thread-on")
                checker = checker_pid(t) if monitored else None
                pids = [t.proc.pid] + ([checker] if checker not in (None, t.proc.pid) else [])
                before = [cpu_seconds(p) for p in pids]
                res = run_wrk(t, args.duration, args.connections, 1)
                used = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
                per_k = [1e6 * u / max(res.requests, 1) for u in used]  # ms / 1,000
                cost[t.name].append((per_k[0], per_k[1] if len(per_k) > 1 else 0.0))
                best[t.name] = max(best.get(t.name, 0.0), res.requests_per_s)
                rates[t.name].append(res.requests_per_s)
                print(f"round {r + 1} {t.name:13s} {res.requests_per_s:9.1f} req/s  "
                      f"p99 {res.p99_ms:6.2f} ms  non-2xx {res.non_2xx}  server CPU "
                      f"{per_k[0]:.1f} ms / 1,000 requests"
                      + (f", worker {per_k[1]:.1f} ms" if len(per_k) > 1 else ""),
                      flush=True)  # fmt: skip
            for t in targets:
                if t.name in ("monitor-on", "thread-on"):
                    add_coverage(coverage[t.name], drift_coverage(t.url.rsplit("/", 1)[0]))
        finally:
            stop_all(targets)
    print_cpu_cost(cost)
    off = best["monitor-off"]
    for name in names[:-1]:
        where = {"monitor-on": "on (a worker process)", "thread-on": "on (a server thread)",
                 CONTROL: "off (a second server, the A/A control)"}[name]  # fmt: skip
        paired = statistics.median(
            on / o for on, o in zip(rates[name], rates["monitor-off"], strict=True)
        )
        print(f"throughput monitor {where} / off: best rounds {best[name]:.0f} / "
              f"{off:.0f} req/s = {best[name] / off:.1%}; median of the rounds' ratios "
              f"{paired:.1%}" + ("" if name == CONTROL else " (target >= 95%)"))  # fmt: skip
        if name == CONTROL:
            continue
        got = coverage[name]
        due = got.get("windows_due", 0)
        print(f"  windows covered / due at {best[name]:.0f} req/s (every 1000 rows, all "
              f"rounds): {got.get('windows_covered')} / {due} = "
              f"{(got.get('windows_covered', 0) / due if due else 0):.0%} (target 100%); "
              f"coalesced {got.get('windows_coalesced')}, "
              f"skipped {got.get('windows_skipped')}")  # fmt: skip


def print_cpu_cost(cost: dict[str, list[tuple[float, float]]]) -> None:
    """The serving process's CPU per request on vs off (medians over rounds): what the
    monitor takes from serving, robust to a noisy machine, unlike the best throughput."""
    off = statistics.median(c[0] for c in cost["monitor-off"])
    for name, rounds in cost.items():
        server = statistics.median(c[0] for c in rounds)
        worker = statistics.median(c[1] for c in rounds)
        print(f"{name:12s} server process CPU {server:.1f} ms / 1,000 requests "
              f"(x{server / off:.3f} of monitor off)"
              + (f"; worker process {worker:.1f} ms / 1,000 rows" if worker else ""))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=20, help="in-process checks timed")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--min-interval", type=float, default=30.0,
                        help="DRIFTLOOP_SERVER__MONITOR_MIN_INTERVAL_S of the monitor-on server "
                        "(30: the default; 0: back-to-back checks)")  # fmt: skip
    parser.add_argument("--skip-wrk", action="store_true", help="only the CPU per check")
    parser.add_argument("--no-control", action="store_true",
                        help="without the second monitor-off server (the A/A control)")  # fmt: skip
    parser.add_argument("--thread", action="store_true",
                        help="also a server whose checks run in a thread of its own "
                        "process (MONITOR_PROCESS=false), in the same rounds")  # fmt: skip
    args = parser.parse_args(argv)
    from driftloop.config.settings import Settings

    settings = Settings()
    seconds = sorted(check_cpu(settings, args.checks))
    print(f"CPU seconds per in-server check of a 1000-row window: median "
          f"{seconds[len(seconds) // 2]:.3f} s, max {seconds[-1]:.3f} s over {len(seconds)} "
          "checks (target <= 0.3 s)")  # fmt: skip
    if not args.skip_wrk:
        if shutil.which("wrk") is None:
            raise SystemExit("wrk not found (Debian: apt-get install wrk)")
        throughput(settings, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
