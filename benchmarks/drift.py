"""Time and memory of driftloop's drift statistics against Evidently's default DataDriftPreset.

For each size N it builds a synthetic reference and current frame of N rows x 20 columns
(12 numeric, 4 of them low-cardinality, and 8 categorical; a few columns shifted in the current
frame, a few with missing values), then runs, each in a fresh subprocess:

* ``compute_drift`` (driftloop.core.drift_reference), and
* a plain ``Report([DataDriftPreset()])`` run
  (driftloop.adapters.evidently_report.evidently_drift_verdicts
  with no options: Evidently picks its own methods and thresholds).

Peak memory is the subprocess's ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the RSS high-water
mark of the whole process: libraries, both frames and the call). "Added" is what the call itself
needed on top of that: the high-water mark is reset just before the call (Linux: writing 5 to
/proc/self/clear_refs), and added = ru_maxrss after the call minus the RSS before it. Usage::

    uv run python benchmarks/drift.py --sizes 10000,100000 --skip-evidently-above 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = [f"num_{i:02d}" for i in range(12)]
CATEGORICAL = [f"cat_{i:02d}" for i in range(8)]
SHIFTED = {"num_00", "num_01", "num_08", "cat_00", "cat_01"}


def build_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames of ``rows`` rows; the SHIFTED columns drift in current."""
    rng = np.random.default_rng(seed)
    return _frame(rng, rows, shifted=False), _frame(rng, rows, shifted=True)


def _frame(rng: np.random.Generator, n: int, shifted: bool) -> pd.DataFrame:
    cols: dict[str, Any] = {}
    cols["num_00"] = rng.normal(0.5 if shifted else 0.0, 1.0, n)  # mean shift of 0.5 std
    cols["num_01"] = rng.normal(0.0, 1.5 if shifted else 1.0, n)  # wider
    cols["num_02"] = rng.normal(0.02 if shifted else 0.0, 1.0, n)  # too small to count
    cols["num_03"] = rng.lognormal(3.0, 0.8, n)
    cols["num_04"] = rng.exponential(50.0, n).round(2)
    cols["num_05"] = rng.integers(0, 73, n).astype(np.float64)  # tenure-like, many ties
    cols["num_06"] = rng.uniform(18.0, 120.0, n).round(2)
    cols["num_07"] = rng.gamma(2.0, 2.0, n)
    # Low-cardinality numbers: Evidently switches these to Jensen-Shannon.
    cols["num_08"] = (rng.random(n) < (0.35 if shifted else 0.16)).astype(np.float64)
    cols["num_09"] = (rng.random(n) < 0.5).astype(np.float64)
    cols["num_10"] = rng.integers(0, 4, n).astype(np.float64)
    cols["num_11"] = rng.integers(0, 3, n).astype(np.float64)
    cols["num_03"][rng.random(n) < 0.01] = np.nan
    cols["num_06"][rng.random(n) < 0.02] = np.nan
    for i in range(8):
        k = 3 + 4 * i
        levels = np.array([f"level_{j}" for j in range(k)], dtype=object)
        p = np.linspace(1.0, 2.0, k)
        if shifted and i == 0:
            p = p[::-1] ** 3
        if shifted and i == 1:
            levels = np.array([*levels[:-1], "unseen"], dtype=object)
            p = np.r_[p[:-1], p.sum() * 0.25]
        values = rng.choice(levels, size=n, p=p / p.sum())
        if i == 7:
            values[rng.random(n) < 0.03] = None
        cols[f"cat_{i:02d}"] = values
    return pd.DataFrame(cols)


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def _reset_peak() -> None:
    # Data generation leaves a high-water mark above what the call needs; reset it so the
    # call's own peak shows (supported since Linux 4.0).
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def run_worker(engine: str, rows: int, seed: int) -> dict[str, Any]:
    """Inside a fresh process: build the frames, run one engine, measure it."""
    t0 = time.perf_counter()
    if engine == "evidently":
        import evidently  # noqa: F401  (imported here so the run below excludes it)

        from driftloop.adapters.evidently_report import evidently_drift_verdicts
    else:
        from driftloop.core.drift_reference import compute_drift
    import_s = time.perf_counter() - t0
    reference, current = build_frames(rows, seed)
    gc.collect()
    peak_before = _max_rss_mb()
    _reset_peak()
    before = _rss_mb()
    t0 = time.perf_counter()
    if engine == "evidently":
        cols = evidently_drift_verdicts(reference, current, NUMERIC, CATEGORICAL)
        verdicts = {k: {"drifted": v["drifted"], "score": v["score"]} for k, v in cols.items()}
    else:
        summary = compute_drift(reference, current, NUMERIC, CATEGORICAL, 0.1)
        verdicts = {
            f.feature: {"drifted": f.distribution_drifted, "score": f.score}
            for f in summary.features
        }
    seconds = time.perf_counter() - t0
    peak_call = _max_rss_mb()
    return {
        "engine": engine,
        "rows": rows,
        "import_s": import_s,
        "seconds": seconds,
        "peak_mb": max(peak_before, peak_call),
        "added_mb": peak_call - before,
        "verdicts": verdicts,
    }


def measure(engine: str, rows: int, seed: int) -> dict[str, Any]:
    """Run one engine in a subprocess and return its measurements."""
    cmd = [sys.executable, __file__, "--worker", engine, "--rows", str(rows), "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} worker for {rows} rows failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(ours: dict[str, Any], theirs: dict[str, Any] | None) -> tuple[str, str]:
    """Verdict agreement and the largest score difference."""
    if theirs is None:
        return "-", "-"
    a, b = ours["verdicts"], theirs["verdicts"]
    differ = sorted(k for k in a if a[k]["drifted"] != b[k]["drifted"])
    gap = max(abs(a[k]["score"] - b[k]["score"]) for k in a)
    agree = "yes" if not differ else f"no: {', '.join(differ)}"
    return agree, f"{gap:.1e}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated rows")
    parser.add_argument(
        "--skip-evidently-above",
        type=int,
        default=None,
        help="do not run Evidently for sizes above this many rows (1M takes ~1 min, ~1.6 GB)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_out", default=None, help="also write results here")
    parser.add_argument("--worker", choices=["ours", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(run_worker(args.worker, args.rows, args.seed)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    console = Console(width=max(console.width, 130))  # a pipe gets 80 columns otherwise
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = []
    for rows in sizes:
        with console.status(f"{rows:,} rows: driftloop"):
            ours = measure("ours", rows, args.seed)
        theirs = None
        if args.skip_evidently_above is None or rows <= args.skip_evidently_above:
            with console.status(f"{rows:,} rows: Evidently DataDriftPreset"):
                theirs = measure("evidently", rows, args.seed)
        results.append((rows, ours, theirs))

    table = Table(title="Drift detection, 20 columns, reference = current size")
    for name in (
        "rows",
        "ours s",
        "Ev. s",
        "speed-up",
        "ours MB peak/added",
        "Ev. MB peak/added",
        "added ratio",
        "agree",
        "max Δscore",
        "drifted ours/Ev.",
    ):
        table.add_column(name, justify="right")
    for rows, ours, theirs in results:
        agree, gap = compare(ours, theirs)
        n_ours = sum(v["drifted"] for v in ours["verdicts"].values())
        if theirs is None:
            ev_s = ev_mem = speed = mem_ratio = "skipped"
            n_theirs = "-"
        else:
            ev_s = f"{theirs['seconds']:.2f}"
            ev_mem = f"{theirs['peak_mb']:.0f}/{theirs['added_mb']:.0f}"
            speed = f"{theirs['seconds'] / ours['seconds']:.1f}x"
            mem_ratio = f"{theirs['added_mb'] / max(ours['added_mb'], 1.0):.1f}x"
            n_theirs = str(sum(v["drifted"] for v in theirs["verdicts"].values()))
        table.add_row(
            f"{rows:,}",
            f"{ours['seconds']:.2f}",
            ev_s,
            speed,
            f"{ours['peak_mb']:.0f}/{ours['added_mb']:.0f}",
            ev_mem,
            mem_ratio,
            agree,
            gap,
            f"{n_ours}/{n_theirs}",
        )
    console.print(table)
    console.print(
        "Peak = ru_maxrss of a fresh subprocess per run (libraries + both frames + the call); "
        "added = the call's own high-water mark above the RSS before it. Times exclude imports "
        "and data generation. Expected drifted columns: " + ", ".join(sorted(SHIFTED)) + "."
    )
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump([{"rows": r, "ours": o, "evidently": t} for r, o, t in results], fh, indent=1)


if __name__ == "__main__":
    main()
