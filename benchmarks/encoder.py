"""Per-record latency of the compiled serving path against the sklearn pipeline.

Fits every candidate of the telco spec (its own parameters) on the first 70% of the demo
data, compiles it with ``driftloop.core.encoder.compile_pipeline``, checks it with
``verify_compiled`` on the rest, and then times one record at a time, cycling through the
held-out records:

* compiled: ``compiled.predict_proba([record])`` (encoding + the estimator's prediction);
* encode: ``compiled.encoder.encode_record(record)`` alone;
* pipeline: ``pipeline.predict_proba(pd.DataFrame([record]))`` — what a server without the
  fast path does per request.

Figures are µs per call (median and p99); "compile ms" is the time ``compile_pipeline`` takes
at load. The pipeline is slow, so it gets fewer calls.
The estimators keep their own thread settings (the spec's random forest uses ``n_jobs=2``);
the compiled path uses one thread throughout. Usage::

    uv run python benchmarks/encoder.py --calls 20000 --pipeline-calls 500
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from driftloop.config.spec import CandidateConfig, DatasetSpec, load_spec
from driftloop.core.candidates import build_pipeline
from driftloop.core.encoder import compile_pipeline, verify_compiled

ROOT = Path(__file__).resolve().parents[1]


def load_telco(spec: DatasetSpec) -> pd.DataFrame:
    """The demo data with numeric features as float64 and categorical ones as objects."""
    frame = pd.read_csv(spec.source)
    for col in spec.numeric_features:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in spec.categorical_features:
        frame[col] = frame[col].astype(object)
    return frame


def time_calls(call: Callable[[Any], Any], records: list[dict[str, Any]], calls: int) -> np.ndarray:
    """µs of each of ``calls`` calls, cycling through ``records`` (after a short warm-up)."""
    for record in records[:50]:
        call(record)
    out = np.empty(calls)
    clock = time.perf_counter_ns
    for i in range(calls):
        record = records[i % len(records)]
        start = clock()
        call(record)
        out[i] = clock() - start
    return out / 1000.0


def bench_candidate(
    spec: DatasetSpec,
    candidate: CandidateConfig,
    train: pd.DataFrame,
    held_out: pd.DataFrame,
    args: argparse.Namespace,
) -> list[str]:
    """One table row: fit, compile, verify, then time the three paths."""
    features = list(spec.features)
    records = held_out[features].to_dict("records")
    pipeline = build_pipeline(spec, candidate).fit(train[features], train[spec.target])
    start = time.perf_counter()
    compiled = compile_pipeline(pipeline, spec.numeric_features, spec.categorical_features)
    compile_ms = (time.perf_counter() - start) * 1000
    check = verify_compiled(compiled, pipeline, held_out)
    encode = time_calls(compiled.encoder.encode_record, records, args.calls)
    fast = time_calls(lambda r: compiled.predict_proba([r]), records, args.calls)
    slow = time_calls(
        lambda r: pipeline.predict_proba(pd.DataFrame([r])), records, args.pipeline_calls
    )
    p50, p99 = np.percentile(fast, [50, 99])
    s50, s99 = np.percentile(slow, [50, 99])
    return [
        candidate.name,
        f"{compile_ms:.0f}",
        f"{'yes' if check.ok else 'NO'} {check.max_abs_diff:.0e}",
        f"{np.median(encode):.1f}",
        f"{p50:.1f}",
        f"{p99:.1f}",
        f"{s50:,.0f}",
        f"{s99:,.0f}",
        f"{s50 / p50:,.0f}x",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "configs" / "telco.yaml")
    parser.add_argument("--calls", type=int, default=20_000, help="calls of the compiled path")
    parser.add_argument("--pipeline-calls", type=int, default=500, help="calls of the pipeline")
    args = parser.parse_args()

    spec = load_spec(args.spec)
    frame = load_telco(spec)
    cut = int(len(frame) * 0.7)
    train, held_out = frame.iloc[:cut], frame.iloc[cut:]

    table = Table(title=f"one record per call, µs ({args.calls:,} compiled calls per model)")
    table.add_column("model")
    for name in ("compile ms", "verified |diff|", "encode p50"):
        table.add_column(name, justify="right")
    for name in ("compiled p50", "compiled p99", "pipeline p50", "pipeline p99", "speed-up p50"):
        table.add_column(name, justify="right")
    console = Console(width=max(Console().width, 130))
    for candidate in spec.candidates:
        with console.status(f"fitting and timing {candidate.name}"):
            table.add_row(*bench_candidate(spec, candidate, train, held_out, args))
    console.print(table)


if __name__ == "__main__":
    main()
