"""History that does not slow anything down, and a 10-million-row window.

Prints (not asserted on):

1. ``driftloop detect --no-report`` and ``driftloop status`` wall seconds (targets <= 2 s
   each; the best of ``--runs``, with its CPU seconds, which load stretches less), on a
   copy of the state folder with no history, then with ``--objects`` report/event objects
   (half drift reports, half event records with their index) and ``--segments``
   inference-log segments, both over ``--days`` days; the ratio large/empty (target
   within x1.5).
2. A ``--segments`` x ``--rows-per-segment`` row window (default 10,000 x 1,000 = 10 M)
   checked by ``driftloop detect --no-report --window-rows N`` (streamed segment by
   segment): wall seconds and peak memory of that process (targets <= 20 s, <= 1 GB),
   and its verdicts beside the exact statistics computed here on all rows (numeric
   columns as arrays, categorical counts with Arrow), feature by feature.

Needs a trained champion in the state folder (``make run-model-training``). Usage::

    uv run python benchmarks/history.py --objects 100000 --segments 10000
    uv run python benchmarks/history.py --skip-window   # part 1 only
    uv run python benchmarks/history.py --only-window   # part 2 alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HISTORY = ("inference", "feedback", "reports", "events", "retrains")


def copy_state(state: Path, dst: Path) -> None:
    """The state folder without its history (datasets, registry, artifacts kept)."""
    store = state / "store"
    shutil.copytree(state, dst, ignore=lambda d, names: [
        n for n in names if Path(d) == store and n in HISTORY])  # fmt: skip


def write_objects(store: Path, objects: int, days: int) -> None:
    """Drift reports and event records (with their day index), spread over ``days``."""
    start = datetime.now(UTC) - timedelta(days=days)
    per_day = max(1, objects // 2 // days)
    for n in range(objects // 2):
        at = start + timedelta(days=n // per_day, seconds=n % per_day)
        rid = f"{at:%Y%m%dT%H%M%S%f}Z-{n % 0xFFFFFF:06x}"
        folder = store / f"reports/{at:%Y/%m/%d}/{rid}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "drift.json").write_text(json.dumps({
            "report_id": rid, "model_version": "0", "checked_at": at.isoformat(),
            "summary": {"drift_share": 0.0, "drifted_features": [], "features": []},
            "decision": {"retrain": False, "window_drifted": False}}))  # fmt: skip
        event_id = f"{n:032x}"
        (store / "events").mkdir(exist_ok=True)
        (store / f"events/{event_id}.json").write_text(json.dumps({
            "event_id": event_id, "status": "accepted", "updated_at": at.isoformat(),
            "history": [{"at": at.isoformat(), "what": "accepted"}]}))  # fmt: skip
        index = store / f"events/index/{at:%Y/%m/%d}"
        index.mkdir(parents=True, exist_ok=True)
        (index / f"{at:%Y%m%dT%H%M%S%fZ}-{event_id}").write_bytes(b"")


def write_segments(settings: Any, segments: int, rows: int, days: int = 0) -> tuple[str, list[str]]:
    """Logged segments of test-split rows (a shifted share of them in the newer half),
    spread evenly over the last ``days`` (0: one a second, ending now)."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.production_data import INFERENCE_PREFIX, new_segment_id, segment_key
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

    store = ObjectStore.from_settings(settings)
    info = Tracker(settings, store).alias_version("champion")
    assert info is not None and info.dataset_version
    ds = open_dataset(store, info.dataset_version)
    features = [f["name"] for f in ds.schema()["features"]]
    numeric = [f["name"] for f in ds.schema()["features"] if f["kind"] == "numeric"]
    test = ds.frame("test")[features].reset_index(drop=True)
    rng = np.random.default_rng(0)
    step = timedelta(seconds=days * 86_400 / segments if days else 1)
    start = datetime.now(UTC) - step * segments
    for n in range(segments):
        frame = test.iloc[rng.integers(0, len(test), rows)].reset_index(drop=True)
        if n >= segments // 2 and numeric:
            frame[numeric[0]] = frame[numeric[0]] * 1.3  # drift in the newer half
        first = start + step * n
        frame.insert(0, "source", "api")
        frame.insert(0, "model_version", info.version)
        frame.insert(0, "ts", [first + timedelta(microseconds=i) for i in range(rows)])
        frame.insert(0, "request_id", [f"{n}-{i}" for i in range(rows)])
        frame["prediction"], frame["probability"] = "No", 0.2
        store.write_parquet(segment_key(INFERENCE_PREFIX, first, new_segment_id(first)), frame)
    return info.version, features


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, proc


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_timed(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``driftloop`` process (CPU: what a loaded machine
    stretches least)."""
    cpu = children_cpu()
    seconds, proc = timed([sys.executable, "-m", "driftloop", *args], env)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"driftloop {' '.join(args)} exited {proc.returncode}: "
                         f"{proc.stderr[-800:]}")  # fmt: skip
    return seconds, children_cpu() - cpu


def cli(env: dict[str, str], *args: str) -> float:
    return cli_timed(env, *args)[0]


def detect_and_status(env: dict[str, str], label: str, runs: int) -> tuple[float, float]:
    """The best of ``runs`` runs of each (wall seconds; CPU seconds printed beside)."""
    detect = min(cli_timed(env, "detect", "--no-report") for _ in range(runs))
    status = min(cli_timed(env, "status") for _ in range(runs))
    print(f"{label:36s} detect --no-report {detect[0]:5.2f} s ({detect[1]:4.2f} s CPU)   "
          f"status {status[0]:5.2f} s ({status[1]:4.2f} s CPU)")  # fmt: skip
    return detect[0], status[0]


def exact_verdicts(settings: Any, window_rows: int) -> Any:
    """The exact statistics on every logged row: numeric columns as arrays; categorical
    counts from Arrow, aligned with the reference's as the exact check aligns them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.production_data import INFERENCE_PREFIX, newest_segment_keys
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.spec import load_spec
    from driftloop.core.drift_reference import categorical_verdict, prepare_reference
    from driftloop.core.drift_verdict import summarise
    from driftloop.jobs.detect import calibrated_reference, window_thresholds

    spec = load_spec(settings.spec)
    store = ObjectStore.from_settings(settings)
    info = Tracker(settings, store).alias_version("champion")
    assert info is not None
    reference = open_dataset(store, str(info.dataset_version)).frame("reference")
    root = Path(store.url.removeprefix("file://"))
    keys = list(newest_segment_keys(store, INFERENCE_PREFIX))[::-1]  # oldest first
    cols = [*spec.numeric_features, *spec.categorical_features]
    table = pa.concat_tables([pq.read_table(root / k, columns=cols) for k in keys])
    table = table.slice(max(0, table.num_rows - window_rows))
    # the thresholds detect decides with (calibrated mode: at the window's rows, cached)
    thresholds = window_thresholds(spec, store, reference, table.num_rows)
    prepared = calibrated_reference(spec, prepare_reference(
        reference, spec.numeric_features, spec.categorical_features, spec.drift.threshold),
        thresholds)  # fmt: skip
    numeric = calibrated_reference(spec, prepare_reference(
        reference, spec.numeric_features, [], spec.drift.threshold), thresholds)  # fmt: skip
    results = list(numeric.compare(table.select(list(spec.numeric_features)).to_pandas()).features)
    for name, ref in prepared.categorical.items():
        counts = table.column(name).value_counts().to_pylist()
        cur = pd.Series({c["values"]: c["counts"] for c in counts if c["values"] is not None})
        both = pd.concat([ref.counts, cur], axis=1, sort=False).fillna(0)
        results.append(categorical_verdict(name, both.iloc[:, 0].to_numpy(float),
                                           both.iloc[:, 1].to_numpy(float),
                                           (ref.rows, table.num_rows), prepared))  # fmt: skip
    return summarise(results, prepared.rows, table.num_rows, spec.drift.threshold, prepared.mode)


def large_window(env: dict[str, str], settings: Any, rows: int, out: Path) -> None:
    seconds = cli(env, "detect", "--no-report", "--window-rows", str(rows), "--output", str(out))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    streamed = json.loads(out.read_text())["summary"]
    exact = exact_verdicts(settings, rows)
    print(f"\n{rows:,}-row window, streamed by detect: {seconds:.1f} s wall (target <= 20 s), "
          f"peak RSS of the largest child so far {peak_mb:.0f} MB (target <= 1024 MB)")  # fmt: skip
    print(f"{'feature':24s} {'streamed score':>15s} {'exact score':>12s}  verdicts")
    worst = 0.0
    for s, e in zip(streamed["features"], exact.features, strict=True):
        same = "equal" if s["drifted"] == e.drifted else "DIFFERENT"
        diff = 0.0 if s["score"] is None or e.score is None else abs(s["score"] - e.score)
        worst = max(worst, diff)
        print(f"{e.feature:24s} {s['score'] or 0:15.6f} {e.score or 0:12.6f}  "
              f"{s['drifted']!s:5s} / {e.drifted!s:5s} {same}")  # fmt: skip
    print(f"drifted: streamed {streamed['drifted_features']} / exact "
          f"{list(exact.drifted_features)}; largest score difference {worst:.2e}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--rows-per-segment", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3, help="Runs of each command (best kept).")
    parser.add_argument("--skip-window", action="store_true",
                        help="Skip part 2 (the large streamed window).")  # fmt: skip
    parser.add_argument("--only-window", action="store_true", help="part 2 alone")
    args = parser.parse_args(argv)
    from driftloop.config.settings import Settings

    source = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-history-bench-"))
    try:
        copy_state(source.state_dir.resolve(), tmp / "state")
        env = {**os.environ, "DRIFTLOOP_STATE_DIR": str(tmp / "state"),
               "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
        env.pop("DRIFTLOOP_STORE", None)
        os.environ.update(env)
        settings = Settings()
        if args.only_window:
            write_segments(settings, args.segments, args.rows_per_segment, args.days)
            large_window(env, settings, args.segments * args.rows_per_segment, tmp / "window.json")
            return 0
        write_segments(settings, 20, 100)  # a window to check
        empty = detect_and_status(env, "no history", args.runs)
        t0 = time.perf_counter()
        write_objects(tmp / "state" / "store", args.objects, args.days)
        write_segments(settings, args.segments, args.rows_per_segment, args.days)
        print(f"(generated {args.objects:,} objects and {args.segments:,} segments in "
              f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
        label = f"{args.objects:,} objects, {args.segments:,} segments"
        large = detect_and_status(env, label, args.runs)
        print(f"large / empty: detect x{large[0] / empty[0]:.2f}, status x{large[1] / empty[1]:.2f}"
              " (target within x1.5)")  # fmt: skip
        if not args.skip_window:
            rows = args.segments * args.rows_per_segment
            large_window(env, settings, rows, tmp / "window.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
