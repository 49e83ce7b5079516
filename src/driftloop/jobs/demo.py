"""``driftloop demo``: the whole loop, locally, from nothing, with a live timeline.

prepare -> train -> serve (a real uvicorn process) -> normal traffic (no drift decision) ->
the world changes (simulated ``shift_and_concept``: charges and tenure move, and who churns
with them; labels sent to ``/feedback``) -> detect (input drift on the key features, and the
realised ROC AUC on the labelled window breaches the performance rule) -> signed event
-> retrain in the background -> gate (the challenger must win with confidence on the newest
held-out rows) -> promote -> the server hot-reloads and answers with the new version.

The relation changes with the inputs on purpose: a shift of the inputs alone leaves this
model's ranking nearly intact (the replay's telco-shift: the old champion keeps its test ROC
AUC), so the gate rightly keeps it and the loop would not close.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from driftloop.core.statuses import FINAL_EVENT, EventStatus
from driftloop.jobs.progress import ProgressCallback, Step, no_progress, run_step


@dataclass
class DemoResult:
    """What the demo did and whether the loop closed."""

    closed: bool
    steps: list[Step]
    state_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)


class DemoFailed(RuntimeError):
    """A step of the demo did not do what it should."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STEPS = [
    "prepare the telco data set",
    "train candidates, register champion",
    "start the prediction service",
    "send normal traffic",
    "detect: normal traffic",
    "simulate drift (inputs and churn relation)",
    "detect + emit signed event",
    "retrain in the background + gate",
    "hot reload: server answers with new version",
]


class DemoRun:
    """One run of the demo: the state the steps share, and one method per step.

    Each step returns the line the timeline shows and keeps what later steps need in
    ``facts``.
    """

    def __init__(
        self, state_dir: Path, spec_path: Path, normal_rows: int, drift_rows: int,
        timeout_s: float,
    ) -> None:  # fmt: skip
        from driftloop.adapters.store import ObjectStore
        from driftloop.adapters.tracking import Tracker
        from driftloop.config.settings import Settings
        from driftloop.config.spec import load_spec

        self.state_dir = state_dir
        self.env = {
            "DRIFTLOOP_STATE_DIR": str(state_dir),
            "DRIFTLOOP_SPEC": str(spec_path),
            "DRIFTLOOP_SERVER__RELOAD_INTERVAL_S": "1",
            "DRIFTLOOP_SERVER__LOG_FLUSH_INTERVAL_S": "0.5",
            "DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS": "0",  # the demo runs detect itself, visibly
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        os.environ.update(self.env)
        self.settings = Settings()
        self.spec = load_spec(spec_path)
        self.store = ObjectStore.from_settings(self.settings)
        self.tracker = Tracker(self.settings, self.store)
        self.normal_rows, self.drift_rows, self.timeout_s = normal_rows, drift_rows, timeout_s
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.facts: dict[str, Any] = {"base_url": self.base}
        self.server: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.base, timeout=60)

    def steps(self) -> list[Callable[[], str]]:
        """The steps, in the order of ``STEPS``."""
        return [self.prepare, self.train, self.start, self.normal, self.detect_normal,
                self.simulate, self.detect_drifted, self.retrain, self.reload]  # fmt: skip

    def prepare(self) -> str:
        from driftloop.jobs.prepare import prepare_dataset

        r = prepare_dataset(self.spec, self.store)
        self.facts["dataset_version"] = r.version
        return f"dataset {r.version}: " + ", ".join(f"{k} {v}" for k, v in r.rows.items())

    def train(self) -> str:
        from driftloop.jobs.train import train_models

        r = train_models(self.spec, self.store, self.tracker)
        self.facts["champion_before"] = r.registered.version
        self.facts["train_score"] = r.comparison["new_score"]
        return (
            f"{len(r.candidates)} candidates; best {r.best}, v{r.registered.version} "
            f"test {self.spec.metric} {r.comparison['new_score']:.4f}"
        )

    def start(self) -> str:
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "driftloop", "serve", "--port", str(self.port)],
            stdout=(logs / "server.log").open("ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.server.poll() is not None:
                raise DemoFailed(f"server exited ({self.server.returncode}); "
                                 f"see {logs}/server.log")  # fmt: skip
            try:
                if self.client.get("/health/ready").status_code == 200:
                    model = self.client.get("/model").json()
                    return (f"{self.base}  serving v{model.get('version')} "
                            f"({model.get('fast_path')})")  # fmt: skip
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise DemoFailed("server not ready after 90 s")

    def normal(self) -> str:
        from driftloop.adapters.datasets import open_dataset

        rows = open_dataset(self.store, self.facts["dataset_version"]).frame("test")
        rows = rows.head(self.normal_rows)
        records = rows[list(self.spec.features)].astype(object).where(rows.notna(), None)
        sent = 0
        for rec in records.to_dict(orient="records"):
            resp = self.client.post("/predict", json=rec)
            if resp.status_code != 200:
                raise DemoFailed(f"/predict answered {resp.status_code}: {resp.text[:200]}")
            sent += 1
        _wait_logged(self.store, sent)
        return f"{sent} requests to /predict, all 200, logged"

    def detect_normal(self) -> str:
        from driftloop.jobs.detect import detect_drift

        r = detect_drift(self.spec, self.store, self.tracker)
        if r.retrain:
            raise DemoFailed("normal traffic was judged drifted: " + r.reason)
        self.facts["report_normal"] = r.report_uri
        assert r.summary is not None
        return f"drift share {r.summary.drift_share:.0%} -> no retrain"

    def simulate(self) -> str:
        before = _logged_rows(self.store)
        token = self.settings.effective_admin_token()
        resp = self.client.post(
            "/simulate-drift",
            json={"drift_type": "shift_and_concept", "n": self.drift_rows},
            headers={"Authorization": f"Bearer {token}"},
        )
        if resp.status_code != 200:
            raise DemoFailed(f"/simulate-drift answered {resp.status_code}: {resp.text[:200]}")
        body = resp.json()
        _wait_logged(self.store, before + body["sent"])
        return f"{body['sent']} drifted requests predicted and logged, {body['feedback']} labels"

    def detect_drifted(self) -> str:
        from driftloop.jobs.detect import detect_drift, emit_for

        r = detect_drift(self.spec, self.store, self.tracker, window_rows=self.drift_rows)
        if not r.retrain:
            raise DemoFailed("drift not detected: " + r.reason)
        receipt = emit_for(r, self.settings, self.store, source="demo")
        assert receipt is not None and receipt.event is not None
        self.facts["event_id"] = receipt.event.event_id
        self.facts["report_drift"] = r.report_uri
        perf = r.performance
        if perf is None or not perf.breached or perf.score is None or perf.baseline is None:
            raise DemoFailed("realised performance did not breach its rule: " + r.reason)
        assert r.summary is not None
        return (
            f"drifted: {', '.join(r.summary.drifted_features)}; {perf.metric} {perf.score:.3f} "
            f"on {perf.rows} labelled rows vs test {perf.baseline:.3f}; event "
            f"{receipt.event.event_id[:8]} {receipt.status}"
        )

    def _event_record(self) -> dict[str, Any]:
        from driftloop.adapters.event_records import read_events

        event_id = self.facts["event_id"]
        return next((e for e in read_events(self.store) if e.get("event_id") == event_id), {})

    def retrain(self) -> str:
        deadline = time.time() + self.timeout_s
        while time.time() < deadline:
            record = self._event_record()
            status = record.get("status", "")
            if status in FINAL_EVENT:
                result = record.get("history", [{}])[-1].get("result", {})
                gate = result.get("gate") or {}
                self.facts["gate"] = gate
                self.facts["challenger"] = result.get("challenger_version")
                if status != EventStatus.RETRAIN_PROMOTED:
                    raise DemoFailed(f"{status}: {result.get('reason') or record}")
                return (
                    f"challenger v{result.get('challenger_version')} "
                    f"{gate.get('challenger_score', 0):.4f} vs champion "
                    f"v{gate.get('champion_version')} {gate.get('champion_score', 0):.4f} "
                    f"on {gate.get('evaluation_rows')} rows -> promoted"
                )
            time.sleep(0.5)
        raise DemoFailed(f"retrain did not finish in {self.timeout_s:.0f} s; "
                         f"see {self.state_dir}/logs")  # fmt: skip

    def reload(self) -> str:
        challenger = str(self.facts["challenger"])
        deadline = time.time() + 60
        while time.time() < deadline:
            model = self.client.get("/model").json()
            if str(model.get("version")) == challenger:
                first = open_first_record(self.store, self.facts["dataset_version"], self.spec)
                answer = self.client.post("/predict", json=first).json()
                if str(answer.get("model_version")) != challenger:
                    raise DemoFailed(f"/predict still answers v{answer.get('model_version')}")
                self.facts["served_after"] = answer.get("model_version")
                return f"/predict answers with v{answer.get('model_version')}"
            time.sleep(0.5)
        raise DemoFailed("server did not reload the new champion in 60 s")

    def close(self) -> None:
        """Stop the server this run started, and the client."""
        self.client.close()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()


def run_demo(
    state_dir: Path,
    spec_path: Path,
    progress: ProgressCallback = no_progress,
    normal_rows: int = 600,
    drift_rows: int = 1000,
    timeout_s: float = 240.0,
) -> DemoResult:
    """Run the loop end to end; DemoResult.closed is True only if the new champion serves.
    ``progress`` is told the timeline of steps each time a step starts or ends."""
    started = time.perf_counter()
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    run = DemoRun(state_dir, spec_path, normal_rows, drift_rows, timeout_s)
    steps = [Step(name) for name in STEPS]
    closed = False
    try:
        for i, fn in enumerate(run.steps()):
            run_step(steps, i, fn, progress)
        closed = True
    except Exception as exc:  # any failure ends the demo; the timeline shows which step
        run.facts["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        run.close()
    run.facts["total_seconds"] = time.perf_counter() - started
    return DemoResult(closed, steps, state_dir, run.facts)


def open_first_record(store: Any, dataset_version: str, spec: Any) -> dict[str, Any]:
    """One test-split record as a /predict body."""
    from driftloop.adapters.datasets import open_dataset

    row = open_dataset(store, dataset_version).frame("test").head(1)[list(spec.features)]
    return dict(row.astype(object).where(row.notna(), None).iloc[0].to_dict())


def _logged_rows(store: Any) -> int:
    from driftloop.adapters.production_data import read_inference_log

    return len(read_inference_log(store))


def _wait_logged(store: Any, rows: int, timeout_s: float = 30.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if _logged_rows(store) >= rows:
            return
        time.sleep(0.3)
    raise DemoFailed(f"inference log has fewer than {rows} rows after {timeout_s:.0f} s")
