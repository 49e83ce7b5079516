"""Single-record /predict throughput and latency: driftloop vs `mlflow models serve` vs a bare
FastAPI endpoint, side by side in one run.

Three servers serve the same champion (the first test-split record is the request body):

* **driftloop**: ``python -m driftloop serve`` with its defaults (prediction log on);
* **mlflow**: ``mlflow models serve --env-manager local`` on ``models:/<name>/<version>``
  (body ``{"dataframe_records": [record]}``);
* **bare**: ``benchmarks/bare_app.py``, a FastAPI endpoint that parses the JSON body and
  returns a constant — the ceiling for any FastAPI handler on this machine.

Each is loaded with ``wrk`` (``benchmarks/wrk/post_json.lua``) at a fixed concurrency, one
server at a time, in interleaved rounds so a change in background load hits all three; the
best round of each is reported. All run one uvicorn worker with ``OMP_NUM_THREADS=1``.
Needs a trained champion in the state folder (``make run-model-training``). Usage::

    uv run python benchmarks/serve.py --duration 15 --rounds 2 --connections 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "benchmarks" / "wrk" / "post_json.lua"


@dataclass
class WrkResult:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


@dataclass
class Target:
    """A server under test."""

    name: str
    argv: list[str]
    url: str
    body: Path
    ready_path: str
    proc: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, p50/p99 and errors from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     output)  # fmt: skip
    return WrkResult(
        rps, p50, p99, total, int(non2xx.group(1)) if non2xx else 0,
        sum(int(g) for g in sock.groups()) if sock else 0,
    )  # fmt: skip


def run_wrk(target: Target, duration: int, connections: int, threads: int) -> WrkResult:
    """Load one server with wrk."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
         "-s", str(LUA), target.url],
        env={**os.environ, "WRK_BODY": str(target.body)}, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return parse_wrk(out.stdout)


def wait_ready(target: Target, timeout: float = 300.0) -> None:
    """Poll the server's readiness URL."""
    deadline = time.time() + timeout
    base = target.url.rsplit("/", 1)[0]
    while time.time() < deadline:
        assert target.proc is not None
        if target.proc.poll() is not None:
            raise SystemExit(f"{target.name} exited with {target.proc.returncode}")
        try:
            if httpx.get(base + target.ready_path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{target.name} not ready after {timeout:.0f}s")


def champion_body(settings: Any) -> tuple[dict[str, Any], str, str]:
    """The first test-split record of the champion's dataset, its model name and version."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker

    store = ObjectStore.from_settings(settings)
    info = Tracker(settings, store).resolve("champion")
    ds = open_dataset(store, info.dataset_version)
    features = [f["name"] for f in ds.schema()["features"]]
    row = ds.frame("test")[features].head(1).astype(object)
    record = row.where(row.notna(), None).iloc[0].to_dict()
    return record, info.name, info.version


def prediction_log_metrics(url: str) -> dict[str, float]:
    """The driftloop server's inference-log counters."""
    text = httpx.get(url.replace("/predict", "/metrics")).text
    wanted = ("rows_written_total", "rows_spooled_total", "rows_dropped_total",
              "buffered_rows")  # fmt: skip
    out = {}
    for line in text.splitlines():
        for w in wanted:
            if line.startswith(f"driftloop_inference_log_{w} "):
                out[w] = float(line.split(" ")[1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--skip", action="append", default=[], choices=["mlflow", "bare"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")

    from driftloop.config.settings import Settings

    settings = Settings()
    record, model_name, version = champion_body(settings)
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-bench-"))
    (tmp / "record.json").write_text(json.dumps(record))
    (tmp / "mlflow.json").write_text(json.dumps({"dataframe_records": [record]}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": settings.tracking_uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}  # fmt: skip
    py = sys.executable
    ports = {name: free_port() for name in ("driftloop", "mlflow", "bare")}
    targets = [
        Target("driftloop", [py, "-m", "driftloop", "serve", "--port", str(ports["driftloop"]),
                             "--workers", "1"],
               f"http://127.0.0.1:{ports['driftloop']}/predict", tmp / "record.json",
               "/health/ready"),
        Target("mlflow", [py, "-m", "mlflow", "models", "serve", "-m",
                          f"models:/{model_name}/{version}", "--env-manager", "local",
                          "-h", "127.0.0.1", "-p", str(ports["mlflow"]), "-w", "1"],
               f"http://127.0.0.1:{ports['mlflow']}/invocations", tmp / "mlflow.json", "/ping"),
        Target("bare", [py, "-m", "uvicorn", "benchmarks.bare_app:app", "--port",
                        str(ports["bare"]), "--no-access-log", "--log-level", "warning"],
               f"http://127.0.0.1:{ports['bare']}/predict", tmp / "record.json", "/docs"),
    ]  # fmt: skip
    targets = [t for t in targets if t.name not in args.skip]
    results: dict[str, list[WrkResult]] = {t.name: [] for t in targets}
    try:
        for t in targets:
            t.proc = subprocess.Popen(t.argv, cwd=ROOT, env=env,
                                      stdout=(tmp / f"{t.name}.log").open("wb"),
                                      stderr=subprocess.STDOUT)  # fmt: skip
        for t in targets:
            wait_ready(t)
            check = httpx.post(
                t.url,
                content=t.body.read_bytes(),
                headers={"content-type": "application/json"},
                timeout=30,
            )
            check.raise_for_status()
            print(f"{t.name:9s} ready: {check.text[:110]}")
            run_wrk(t, 2, args.connections, args.threads)  # warm-up
        for r in range(args.rounds):
            for t in targets:
                res = run_wrk(t, args.duration, args.connections, args.threads)
                results[t.name].append(res)
                print(f"round {r + 1} {t.name:9s} {res.requests_per_s:9.1f} req/s  "
                      f"p50 {res.p50_ms:7.2f} ms  p99 {res.p99_ms:7.2f} ms  "
                      f"non-2xx {res.non_2xx}  socket errors {res.socket_errors}")  # fmt: skip
        log = prediction_log_metrics(targets[0].url) if targets[0].name == "driftloop" else {}
    finally:
        for t in targets:
            if t.proc is not None and t.proc.poll() is None:
                t.proc.terminate()
                try:
                    t.proc.wait(30)
                except subprocess.TimeoutExpired:
                    t.proc.kill()
    best = {name: max(rs, key=lambda x: x.requests_per_s) for name, rs in results.items()}
    print(
        f"\nbest of {args.rounds} rounds, {args.duration}s each, wrk -t{args.threads} "
        f"-c{args.connections}, one uvicorn worker each, {os.cpu_count()} CPUs (shared):"
    )
    print(f"{'server':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, res in best.items():
        print(f"{name:10s} {res.requests_per_s:9.1f} {res.p50_ms:8.2f} {res.p99_ms:8.2f}")
    ratios: dict[str, float] = {}
    if "driftloop" in best:
        d = best["driftloop"].requests_per_s
        if "mlflow" in best:
            ratios["driftloop_vs_mlflow"] = d / best["mlflow"].requests_per_s
            print(f"driftloop / mlflow models serve: {ratios['driftloop_vs_mlflow']:.1f}x "
                  "(target >= 25x)")  # fmt: skip
        if "bare" in best:
            ratios["driftloop_vs_bare"] = d / best["bare"].requests_per_s
            print(f"driftloop / bare FastAPI:        {ratios['driftloop_vs_bare']:.0%} "
                  "(target >= 60%)")  # fmt: skip
        print(f"driftloop p99: {best['driftloop'].p99_ms:.2f} ms (target < 5 ms)")
        print(f"prediction log: {log}")
    errors = sum(r.non_2xx + r.socket_errors for rs in results.values() for r in rs)
    if args.json:
        args.json.write_text(json.dumps({
            "rounds": {k: [asdict(r) for r in v] for k, v in results.items()},
            "best": {k: asdict(v) for k, v in best.items()}, "ratios": ratios,
            "prediction_log": log, "model_version": version,
        }, indent=2))  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
