"""Soak: a real server under a fixed rate of mixed traffic, hot reloads and drift checks.

One ``python -m driftloop serve`` process gets an open-loop request stream at a fixed rate
(default 200 requests/s): single ``/predict`` (70%), ``/predict/batch`` of 10 records
(10%), ``/feedback`` for earlier predictions (10%), ``/model`` (5%) and ``/metrics`` (5%).
Every ``--reload-every`` seconds the ``champion`` alias moves to the other of two versions
(the trained champion and a second model of the other kind) and ``/admin/reload`` swaps it
in; the server's own drift monitor (``DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS``) runs a check
every ``--monitor-every-rows`` (500) logged rows, at most once per
``--monitor-min-interval-s`` (10). Memory is the RSS of the server and its child processes
(the monitor's worker, where the checks now keep their reference and windows;
``/proc/<pid>/status``).

Pass/fail: no request may fail, and the RSS at the end must be within 20% of the RSS after
the warm-up (each the median of 10 one-second samples). Last (unless ``--no-kill``), the
server is SIGKILLed when its next time-based flush is nearly due, and the answered rows
missing from the store are counted: what a crash loses with the default flush settings
(see docs/durability.md).

Builds its own state folder (prepare + train with ``configs/telco-quick.yaml``) unless
given one with a champion. Usage::

    uv run python benchmarks/soak.py --duration 60 --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUICK_SPEC = ROOT / "configs" / "telco-quick.yaml"
ADMIN_TOKEN = "soak-admin-token-not-a-secret"  # a placeholder for a local test server
BATCH = 10
MAX_IN_FLIGHT = 200
MAX_EXTRA_WARMUP_S = 120.0
IDLE_REUSE_S = 3.0  # below uvicorn's 5 s keep-alive timeout


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGTERM a server this benchmark started and wait for it; SIGKILL if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def own_rss_mb(pid: int) -> float:
    """Resident memory of one process, in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its child processes (the monitor's worker), MiB."""
    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children |= {int(c) for c in (task / "children").read_text().split()}
    total = own_rss_mb(pid)
    for child in children:
        with contextlib.suppress(OSError, RuntimeError):
            total += own_rss_mb(child)
    return total


def metric(text: str, name: str) -> float:
    """One unlabelled sample of a Prometheus exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


class EventSink:
    """A stand-in for the drift webhook (Argo Events in the cluster): takes every event with
    a 200 and counts it, so a drift decision during the soak starts no retrain."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        sink = self
        self.events = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.events += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/drift-detected"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def server_latency_ms(text: str, route: str, q: float) -> float:
    """A quantile of the server's own latency histogram for a route (the upper bound of the
    bucket it falls in): time inside the server, without the load generator's own delays."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "driftloop_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_bucket")
                and labels.get("route") == route
                and labels.get("status") == "200"
            ):
                le = float(labels["le"])
                counts[le] = counts.get(le, 0.0) + sample.value
    if not counts:
        return float("nan")
    bounds = sorted(counts)
    total = counts[bounds[-1]]
    for le in bounds:
        if counts[le] >= q * total:
            return le * 1e3
    return float("inf")


def run_cli(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", "driftloop", *args], env=env,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"driftloop {' '.join(args)} failed:\n{result.stderr[-3000:]}")


# -- state ---------------------------------------------------------------------------------
def prepare_state(state_dir: Path, spec: Path, env: dict[str, str]) -> None:
    """A trained champion in ``state_dir`` (prepare + train), unless one is there."""
    if (state_dir / "mlflow.db").exists():
        return
    print(f"preparing and training in {state_dir} ...", flush=True)
    for step in (["prepare"], ["train"]):
        run_cli(step, env)


def two_versions(state_dir: Path, spec_path: Path) -> tuple[str, str]:
    """The champion and a second version on the same dataset (registered if missing)."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.config.spec import CandidateConfig, load_spec
    from driftloop.core.candidates import build_pipeline

    settings = Settings(state_dir=state_dir, spec=spec_path)
    store = ObjectStore.from_settings(settings)
    tracker = Tracker(settings, store)
    champion = tracker.resolve("champion")
    versions = tracker.client.search_model_versions(f"name='{tracker.model_name}'")
    for mv in sorted(versions, key=lambda v: -int(v.version)):
        if (
            str(mv.version) != champion.version
            and (mv.tags or {}).get("dataset_version") == champion.dataset_version
            and (mv.tags or {}).get("soak") == "true"
        ):
            return champion.version, str(mv.version)
    spec = load_spec(spec_path)
    other = "lightgbm" if champion.tags.get("kind") != "lightgbm" else "logistic_regression"
    params = ({"n_estimators": 40, "num_leaves": 15, "verbose": -1, "random_state": 7}
              if other == "lightgbm" else {"max_iter": 1000})  # fmt: skip
    candidate = CandidateConfig(name=f"soak-{other}", kind=other, params=params)
    train = open_dataset(store, champion.dataset_version).frame("train")
    pipeline = build_pipeline(spec, candidate).fit(train[list(spec.features)],
                                                   train[spec.target])  # fmt: skip
    tags = {"dataset_version": str(champion.dataset_version), "candidate": candidate.name,
            "kind": other, "soak": "true"}  # fmt: skip
    with tracker.run(candidate.name, tags=tags) as run_id:
        uri = tracker.log_pipeline(pipeline, train[list(spec.features)], spec.is_classification)
    return champion.version, tracker.register(uri, run_id, tags).version


def traffic_rows(state_dir: Path, spec_path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Test-split records (JSON-ready) and their true labels as the model's class names."""
    from driftloop.adapters.datasets import open_dataset
    from driftloop.adapters.store import ObjectStore
    from driftloop.config.settings import Settings

    store = ObjectStore.from_settings(Settings(state_dir=state_dir, spec=spec_path))
    ds = open_dataset(store)
    schema = ds.schema()
    features = [f["name"] for f in schema["features"]]
    frame = ds.frame("test")
    sub = frame[features].astype(object)
    records = sub.where(sub.notna(), None).to_dict("records")
    classes = [str(c) for c in schema["target"].get("classes") or []]
    target = schema["target"]["name"]
    labels = [classes[int(v)] if classes else str(v) for v in frame[target]]
    return records, labels  # type: ignore[return-value]


# -- load ----------------------------------------------------------------------------------
@dataclass
class Tally:
    """What the traffic saw."""

    sent: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)
    late_starts: int = 0

    def add(self, kind: str, ms: float) -> None:
        self.latency_ms.setdefault(kind, []).append(ms)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RawHTTP:
    """A minimal HTTP/1.1 client on keep-alive connections to one server.

    The load generator shares the machine with the server it measures, so it must cost far
    less CPU: httpx's async client took ~0.8 of a core at 200 requests/s here and its own
    event-loop delays showed up as "latency". Requests are pre-encoded bytes; responses
    are read by ``Content-Length`` (or chunked).
    """

    def __init__(self, url: str, max_connections: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection the server has not closed, or a new one. uvicorn closes
        connections idle for 5 s: reusing one it is about to close would fail a request the
        way no real client would (they drop such connections too)."""
        while self._idle:
            reader, writer, since = self._idle.pop()
            if not reader.at_eof() and time.monotonic() - since < IDLE_REUSE_S:
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: str = ""
    ) -> tuple[int, bytes]:
        async with self._slots:
            reader, writer = await self._connection()
            try:
                payload = body or b""
                writer.write(
                    f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                    f"{headers}\r\n".encode()
                    + payload
                )
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionError("server closed the connection")
                status = int(status_line.split()[1])
                length, chunked, close = 0, False, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"transfer-encoding":
                        chunked = b"chunked" in value.lower()
                    elif key == b"connection":
                        close = value.strip().lower() == b"close"
                if chunked:
                    parts = []
                    while size := int((await reader.readline()).split(b";")[0], 16):
                        parts.append(await reader.readexactly(size))
                        await reader.readline()
                    await reader.readline()
                    data = b"".join(parts)
                else:
                    data = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self._idle.append((reader, writer, time.monotonic()))
            return status, data

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


class Load:
    """An open-loop request schedule at a fixed rate, until stopped."""

    MIX = ["predict"] * 14 + ["batch"] * 2 + ["feedback"] * 2 + ["model", "metrics"]

    def __init__(self, url: str, records: list[dict[str, Any]], labels: list[str],
                 rate: float) -> None:  # fmt: skip
        self.url = url
        self.records = records
        self.labels = labels
        self.rate = rate
        self.tally = Tally()
        self.stop = asyncio.Event()
        self._labelled: list[tuple[str, str]] = []
        self._rng = random.Random(1)
        self.started = time.perf_counter()
        self.bodies = [json.dumps(r).encode() for r in records]

    async def one(self, http: RawHTTP, kind: str, i: int) -> None:
        t = self.tally
        n = len(self.records)
        i = self._rng.randrange(n)  # rows drawn at random: the traffic has no drift
        started = time.perf_counter()
        try:
            if kind == "predict":
                status, data = await http.request("POST", "/predict", self.bodies[i % n])
                ids = [json.loads(data)["request_id"]] if status == 200 else []
                if ids:
                    self._labelled.append((ids[0], self.labels[i % n]))
            elif kind == "batch":
                # rows drawn at random too: contiguous slices of the split would cluster
                # the window and make the drift statistics noisier than real traffic's
                body = {"records": [self.records[j] for j in self._rng.sample(range(n), BATCH)]}
                status, data = await http.request(
                    "POST", "/predict/batch", json.dumps(body).encode()
                )
                ids = (
                    [p["request_id"] for p in json.loads(data)["predictions"]]
                    if status == 200
                    else []
                )
            elif kind == "feedback":
                take, self._labelled = self._labelled[:20], self._labelled[20:]
                labels = [{"request_id": rid, "label": lab} for rid, lab in take] or [
                    {"request_id": f"soak-{i}", "label": self.labels[0]}]  # fmt: skip
                auth = f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
                body_bytes = json.dumps({"labels": labels}).encode()
                status, data = await http.request("POST", "/feedback", body_bytes, auth)
                ids = []
            else:
                status, data = await http.request("GET", f"/{kind}")
                ids = []
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            t.failures[f"{kind}: {type(exc).__name__}"] += 1
            return
        t.add(kind, (time.perf_counter() - started) * 1e3)
        if status != 200:
            t.failures[f"{kind}: HTTP {status}"] += 1
        t.request_ids += ids

    async def run(self) -> None:
        http = RawHTTP(self.url, MAX_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def guarded(kind: str, i: int) -> None:
            try:
                await asyncio.wait_for(self.one(http, kind, i), 30.0)
            except TimeoutError:
                self.tally.failures[f"{kind}: timeout"] += 1

        try:
            start = self.started = time.perf_counter()
            i = 0
            while not self.stop.is_set():
                due = start + i / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.1:
                    self.tally.late_starts += 1
                kind = self.MIX[self._rng.randrange(len(self.MIX))]
                self.tally.sent[kind] += 1
                task = asyncio.create_task(guarded(kind, i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            http.close()


# -- the run -------------------------------------------------------------------------------
@dataclass
class SoakResult:
    """The figures a soak prints (and writes with ``--json``)."""

    seconds: float
    rate_target: float
    requests: int
    rate_achieved: float
    failures: dict[str, int]
    late_starts: int
    p50_ms: float
    p99_ms: float
    predict_p50_ms: float
    predict_p99_ms: float
    server_predict_p50_ms: float
    server_predict_p99_ms: float
    reloads: list[str]
    reload_errors: list[str]
    drift_checks: int
    drift_error: str | None
    drift_events: int
    rows_written: float
    rows_dropped: float
    rss_warm_mb: float
    rss_end_mb: float
    rss_max_mb: float
    rss_ratio: float
    kill: dict[str, Any] | None = None
    rss_every_5s_mb: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.reload_errors and self.rss_ratio <= 1.2


def alias_server(state_dir: Path, spec: Path) -> None:
    """Child process of ``Champion``: set the champion alias to each version read on stdin."""
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings

    settings = Settings(state_dir=state_dir, spec=spec)
    tracker = Tracker(settings, ObjectStore.from_settings(settings))
    print("ready", flush=True)
    for line in sys.stdin:
        tracker.set_alias("champion", line.strip())
        print("ok", flush=True)


class Champion:
    """Moves the champion alias from a long-lived child process: MLflow in the load
    generator's process would stall the loop that times the requests, and a new process per
    move would cost seconds of CPU (imports) that the server needs."""

    def __init__(self, state_dir: Path, spec: Path) -> None:
        self.args = [__file__, "--alias-server", "--state-dir", str(state_dir), "--spec", str(spec)]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *self.args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if (await self.proc.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the alias helper did not start")

    async def move_to(self, version: str) -> None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{version}\n".encode())
        await self.proc.stdin.drain()
        if (await self.proc.stdout.readline()).strip() != b"ok":
            raise RuntimeError(f"setting champion to v{version} failed")

    async def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            await self.proc.wait()


async def reload_to(champion: Champion, url: str, version: str) -> str:
    """Point champion at a version and have the server load it now."""
    await champion.move_to(version)
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        r = await c.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    body = r.json()
    if r.status_code != 200 or body.get("serving_version") != version:
        raise RuntimeError(f"reload to v{version}: HTTP {r.status_code} {body}")
    return version


async def drift_checks(url: str) -> int:
    """Drift checks the server's monitor has finished."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        body = (await c.get("/drift")).json()
    return int(body.get("checks_in_this_process") or 0)


async def soak(args: argparse.Namespace, env: dict[str, str], pid: int, url: str,
               versions: tuple[str, str], records: list[dict[str, Any]],
               labels: list[str], sink: EventSink) -> tuple[SoakResult, Load]:  # fmt: skip
    champion = Champion(args.state_dir, args.spec)
    await champion.start()
    load = Load(url, records, labels, args.rate)
    runner = asyncio.create_task(load.run())
    started = time.perf_counter()
    end = float("inf")  # set when the warm-up is over
    reloads: list[str] = []
    reload_errors: list[str] = []
    samples: list[float] = []
    rss_warm = 0.0
    next_reload = started + args.reload_every
    current = 0
    while (now := time.perf_counter()) < end:
        samples.append(rss_mb(pid))
        if not rss_warm and now - started >= args.warmup and len(reloads) >= 2:
            # Warm once every path has run: two swaps and (when on) a finished drift check,
            # whose first run imports Evidently (~100 MiB). A check or a reload in progress
            # holds tens of MiB for a moment: take the median of the last 10 one-second
            # samples, here and at the end.
            checked = args.monitor_every_rows <= 0 or await drift_checks(url) > 0
            if checked or now - started > args.warmup + MAX_EXTRA_WARMUP_S:
                rss_warm = statistics.median(samples[-10:])
                end = now + args.duration
                print(f"warm after {now - started:.0f} s: RSS {rss_warm:.0f} MiB", flush=True)
        if now >= next_reload:
            current = 1 - current
            try:
                reloads.append(await reload_to(champion, url, versions[current]))
            except (RuntimeError, httpx.HTTPError, ValueError) as exc:
                reload_errors.append(str(exc))
            next_reload += args.reload_every
        await asyncio.sleep(1.0)
    rss_end = statistics.median(samples[-10:])
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        text = (await c.get("/metrics")).text
        drift = (await c.get("/drift")).json()
    result = SoakResult(
        seconds=round(time.perf_counter() - started, 1), rate_target=args.rate,
        requests=sum(load.tally.sent.values()),
        rate_achieved=round(sum(load.tally.sent.values()) / (time.perf_counter() - started), 1),
        failures=dict(load.tally.failures), late_starts=load.tally.late_starts,
        p50_ms=0.0, p99_ms=0.0, predict_p50_ms=0.0, predict_p99_ms=0.0,
        server_predict_p50_ms=server_latency_ms(text, "/predict", 0.5),
        server_predict_p99_ms=server_latency_ms(text, "/predict", 0.99),
        reloads=reloads, reload_errors=reload_errors,
        drift_checks=int(drift.get("checks_in_this_process") or 0),
        drift_error=drift.get("last_error"), drift_events=sink.events,
        rows_written=metric(text, "driftloop_inference_log_rows_written_total"),
        rows_dropped=metric(text, "driftloop_inference_log_rows_dropped_total"),
        rss_warm_mb=round(rss_warm, 1), rss_end_mb=round(rss_end, 1),
        rss_max_mb=round(max(samples), 1), rss_ratio=round(rss_end / rss_warm, 3),
    )  # fmt: skip
    result.rss_every_5s_mb = [round(mb, 1) for mb in samples[::5]]
    every = [ms for values in load.tally.latency_ms.values() for ms in values]
    result.p50_ms, result.p99_ms = round(pct(every, 0.5), 2), round(pct(every, 0.99), 2)
    predict = load.tally.latency_ms.get("predict", [])
    result.predict_p50_ms = round(pct(predict, 0.5), 2)
    result.predict_p99_ms = round(pct(predict, 0.99), 2)
    if args.kill:
        result.kill = await kill_before_flush(load, pid, url, env)
    load.stop.set()
    await runner
    await champion.close()
    return result, load


async def kill_before_flush(load: Load, pid: int, url: str, env: dict[str, str]) -> dict[str, Any]:
    """SIGKILL the server just before its next time-based flush; count the rows lost."""
    from driftloop.adapters.production_data import read_inference_log
    from driftloop.adapters.store import ObjectStore
    from driftloop.config.settings import Settings

    interval = Settings().server.log_flush_interval_s  # the server runs with the defaults
    written = "driftloop_inference_log_rows_written_total"
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        last = metric((await c.get("/metrics")).text, written)
        while metric((await c.get("/metrics")).text, written) == last:
            await asyncio.sleep(0.02)  # wait for a flush to land
        flushed_at = time.perf_counter()
        await asyncio.sleep(max(0.0, interval - 0.3))
        buffered = metric((await c.get("/metrics")).text, "driftloop_inference_log_buffered_rows")
    os.kill(pid, signal.SIGKILL)
    killed_after = time.perf_counter() - flushed_at
    await asyncio.sleep(1.0)  # let in-flight requests fail
    state = Path(env["DRIFTLOOP_STATE_DIR"])
    store = ObjectStore.from_settings(Settings(state_dir=state))
    stored = set(read_inference_log(store)["request_id"])
    answered = set(load.tally.request_ids)
    lost = len(answered - stored)
    rows_per_s = len(answered) / (time.perf_counter() - 1.0 - load.started)
    return {
        "flush_interval_s": interval,
        "killed_s_after_a_flush": round(killed_after, 2),
        "buffered_rows_just_before": int(buffered),
        "answered_rows": len(answered),
        "lost_rows": lost,
        "lost_seconds_of_traffic": round(lost / rows_per_s, 2) if rows_per_s else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds measured")
    parser.add_argument(
        "--warmup",
        type=float,
        default=20,
        help="least seconds before the warm RSS reading (also waits for two reloads and one "
        "finished drift check)",
    )
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--reload-every", type=float, default=10, help="seconds")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="state folder with a champion (default: a new one, prepared and trained here)",
    )
    parser.add_argument("--spec", type=Path, default=QUICK_SPEC)
    parser.add_argument(
        "--monitor-every-rows",
        type=int,
        default=500,
        help="the server's drift check runs after this many logged rows (0: no drift check)",
    )
    parser.add_argument(
        "--monitor-min-interval-s",
        type=float,
        default=10.0,
        help="and at most once per this many seconds (the server's default is 30)",
    )
    parser.add_argument(
        "--no-kill",
        dest="kill",
        action="store_false",
        help="stop the server gracefully instead of the SIGKILL measurement",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--alias-server", action="store_true", help=argparse.SUPPRESS)
    keep = "keep the state folder it builds (reuse it with --state-dir); kept if the soak fails"
    parser.add_argument("--keep", action="store_true", help=keep)
    args = parser.parse_args(argv)
    if args.alias_server:  # the child process of Champion
        alias_server(args.state_dir, args.spec)
        return 0
    if args.state_dir is not None:
        return run(args)
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-soak-"))
    args.state_dir = tmp / "state"
    code = 1
    try:
        code = run(args)
    finally:
        if code == 0 and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"state kept in {tmp}")
    return code


def run(args: argparse.Namespace) -> int:
    """Prepare, start the server, soak, report; 0 when the soak passed."""
    args.state_dir = args.state_dir.resolve()
    args.spec = args.spec.resolve()
    env = {**os.environ, "DRIFTLOOP_STATE_DIR": str(args.state_dir),
           "DRIFTLOOP_SPEC": str(args.spec), "MLFLOW_DISABLE_TELEMETRY": "true",
           "DRIFTLOOP_ADMIN_TOKEN": ADMIN_TOKEN, "OMP_NUM_THREADS": "1"}  # fmt: skip
    prepare_state(args.state_dir, args.spec, env)
    os.environ.update({k: env[k] for k in ("DRIFTLOOP_STATE_DIR", "DRIFTLOOP_SPEC")})
    versions = two_versions(args.state_dir, args.spec)
    records, labels = traffic_rows(args.state_dir, args.spec)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sink = EventSink()
    server_env = {**env, "DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS": str(args.monitor_every_rows),
                  "DRIFTLOOP_SERVER__MONITOR_MIN_INTERVAL_S": str(args.monitor_min_interval_s),
                  "DRIFTLOOP_WEBHOOK__URL": sink.url}  # fmt: skip
    log_path = args.state_dir.parent / "soak-server.log"
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings

    settings = Settings(state_dir=args.state_dir, spec=args.spec)
    tracker = Tracker(settings, ObjectStore.from_settings(settings))
    tracker.set_alias("champion", versions[0])
    proc = subprocess.Popen([sys.executable, "-m", "driftloop", "serve", "--port", str(port)],
                            env=server_env, stdout=log_path.open("ab"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"server did not get ready; see {log_path}")
            time.sleep(0.3)
        print(f"server pid {proc.pid} on {url}; versions v{versions[0]} <-> v{versions[1]}; "
              f"warm-up (>= {args.warmup:g} s) + {args.duration:g} s at {args.rate:g} req/s",
              flush=True)  # fmt: skip
        result, _ = asyncio.run(soak(args, env, proc.pid, url, versions, records, labels, sink))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        tracker.set_alias("champion", versions[0])  # leave the state as it was found
    report(result, log_path)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return 0 if result.ok else 1


def report(r: SoakResult, log_path: Path) -> None:
    print(f"\nsoak: {r.seconds:g} s, {r.requests} requests ({r.rate_achieved:g}/s of "
          f"{r.rate_target:g}/s; {r.late_starts} started >100 ms late)")  # fmt: skip
    print(f"  failures: {sum(r.failures.values())} {r.failures or ''}")
    print(f"  latency seen by the client: all p50 {r.p50_ms} ms, p99 {r.p99_ms} ms; /predict "
          f"p50 {r.predict_p50_ms} ms, p99 {r.predict_p99_ms} ms")  # fmt: skip
    print(f"  /predict inside the server (histogram bucket bounds): p50 <= "
          f"{r.server_predict_p50_ms:g} ms, p99 <= {r.server_predict_p99_ms:g} ms")  # fmt: skip
    print(f"  reloads: {len(r.reloads)} ({' '.join('v' + v for v in r.reloads)})"
          + (f"; errors: {r.reload_errors}" if r.reload_errors else ""))  # fmt: skip
    error = f" (last error: {r.drift_error})" if r.drift_error else ""
    print(
        f"  drift checks by the server's monitor: {r.drift_checks}, events: {r.drift_events}{error}"
    )
    print(f"  inference log: {r.rows_written:.0f} rows written, {r.rows_dropped:.0f} dropped")
    print(f"  RSS: warm {r.rss_warm_mb} MiB, end {r.rss_end_mb} MiB, max {r.rss_max_mb} MiB, "
          f"end/warm {r.rss_ratio}")  # fmt: skip
    if r.kill:
        k = r.kill
        print(f"  kill -9 {k['killed_s_after_a_flush']} s after a flush (interval "
              f"{k['flush_interval_s']} s): {k['lost_rows']} of {k['answered_rows']} answered "
              f"rows lost (~{k['lost_seconds_of_traffic']} s of traffic; "
              f"{k['buffered_rows_just_before']} buffered 0.3 s before)")  # fmt: skip
    print(f"  {'PASS' if r.ok else 'FAIL'}  (server log: {log_path})")


if __name__ == "__main__":
    raise SystemExit(main())
