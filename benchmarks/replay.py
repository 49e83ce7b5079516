"""Replay: a stream of windows through a real server, scoring the loop's decisions.

Per scenario (``benchmarks/replay_scenarios.py``): a fresh state folder, ``driftloop prepare``
and ``train``, then one ``python -m driftloop serve`` on 127.0.0.1 with its in-server monitor
checking every window (``monitor_every_rows`` = the window's rows) and the local retrain
runner acting on its decisions (no webhook: an accepted event starts ``driftloop retrain``;
the server reloads the new champion). Each window goes to ``/predict/batch``; its labels go
to ``/feedback`` ``--label-delay`` windows later; then the replay waits for the monitor's
check of it and prints: rows, the served metric (the answers scored on the true labels),
the estimated metric (from the report: no labels used), the signals that fired, the
decision and the version serving; after a window that decided a retrain, it waits for the
retrain to finish (``--retrain-wait-s``: as if it ran between windows) and prints the gate's
scores. The summary: degradation onset (first window whose served
metric is worse than the model's test score by the performance tolerance), lag from onset
to the first retrain decision and to the new version serving (windows and seconds), false
retrains (decisions on windows with no real change), promotions, the promoted model's
metric against what the first champion scores on the same later windows, the estimate's
mean absolute error, and per-feature false flags on stationary windows.

Numbers are printed, never asserted. Usage::

    uv run python benchmarks/replay.py --quick                 # every scenario, fewer windows
    uv run python benchmarks/replay.py --scenario telco-concept --rows 500
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay_scenarios  # noqa: E402
from replay_retrains import outcome_line, wait_for_retrain  # noqa: E402
from replay_scenarios import SCENARIOS, Scenario, Window, stream  # noqa: E402
from replay_summary import ReplaySummary, WindowRow, print_summary, summarise  # noqa: E402
from soak import free_port, run_cli, stop_process  # noqa: E402

ADMIN_TOKEN = "replay-admin-token-not-a-secret"  # placeholders for a local test server
WEBHOOK_SECRET = "replay-webhook-secret-not-a-secret"
CHECK_TIMEOUT_S = 240.0


def _env(state: Path, spec: Path, window_rows: int) -> dict[str, str]:
    return {**os.environ, "DRIFTLOOP_STATE_DIR": str(state), "DRIFTLOOP_SPEC": str(spec),
            "DRIFTLOOP_ADMIN_TOKEN": ADMIN_TOKEN, "DRIFTLOOP_WEBHOOK__SECRET": WEBHOOK_SECRET,
            "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1",
            "DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS": str(window_rows),
            "DRIFTLOOP_SERVER__MONITOR_MIN_INTERVAL_S": "0",
            "DRIFTLOOP_SERVER__MONITOR_REPORT": "false",
            "DRIFTLOOP_SERVER__LOG_FLUSH_INTERVAL_S": "0.3",
            "DRIFTLOOP_SERVER__RELOAD_INTERVAL_S": "1"}  # fmt: skip


def _metric(metric: str, y: np.ndarray, out: np.ndarray, threshold: float) -> float | None:
    from driftloop.core.metrics import classification_metrics, regression_metrics

    if not len(y):
        return None
    values = (regression_metrics(y, out) if metric in ("rmse", "mae", "r2")
              else classification_metrics(y, out, threshold))  # fmt: skip
    v = values.get(metric)
    return float(v) if v is not None and np.isfinite(v) else None


class Replay:
    """One scenario against one server."""

    def __init__(self, scenario: Scenario, folder: Path, rows: int, windows: int,
                 label_delay: int, settle_s: float,
                 retrain_wait_s: float = 0.0) -> None:  # fmt: skip
        self.scenario, self.rows, self.windows = scenario, rows, windows
        self.label_delay, self.settle_s = label_delay, settle_s
        self.retrain_wait_s, self.outcomes = retrain_wait_s, []
        self.folder = folder
        self.spec_path = scenario.build(folder, rows)
        self.env = _env(folder / "state", self.spec_path, rows)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    # -- set-up ----------------------------------------------------------------------------
    def prepare(self) -> None:
        for step in (["prepare"], ["train"]):
            run_cli(step, self.env)
        from driftloop.adapters.datasets import open_dataset
        from driftloop.adapters.store import ObjectStore
        from driftloop.adapters.tracking import Tracker
        from driftloop.config.settings import Settings
        from driftloop.config.spec import load_spec
        from driftloop.core.performance import baseline_score
        from driftloop.core.threshold import threshold_from_tags

        self.spec = load_spec(self.spec_path)
        settings = Settings(state_dir=self.folder / "state", spec=self.spec_path)
        store = self.store = ObjectStore.from_settings(settings)
        self.tracker = Tracker(settings, store)
        champion = self.tracker.resolve("champion")
        self.first_version = champion.version
        self.old_pipeline = self.tracker.load_pipeline(champion.version)
        self.threshold = threshold_from_tags(champion.tags)
        self.test_score = baseline_score(champion.tags, self.spec.metric)[0]
        ds = open_dataset(store, champion.dataset_version)
        self.pool = pd.concat([ds.frame("test"), ds.frame("valid")], ignore_index=True)
        self.classes = ds.schema()["target"].get("classes")

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driftloop", "serve", "--host", "127.0.0.1", "--port",
             str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120.0)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if self.http.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"server did not become ready; see {self.folder / 'server.log'}")

    def stop(self) -> None:
        stop_process(self.proc, 60)

    # -- one window ------------------------------------------------------------------------
    def _labels(self, y: pd.Series) -> list[str]:
        if self.classes:
            return [str(self.classes[int(v)]) for v in y]
        return [repr(float(v)) for v in y]

    def send(self, window: Window) -> tuple[list[str], np.ndarray, str]:
        """Predict the window's rows; their ids, outputs and the version that answered."""
        features = list(self.spec.features)
        sub = window.frame[features].astype(object)
        records = sub.where(sub.notna(), None).to_dict("records")
        ids: list[str] = []
        outputs: list[float] = []
        version = "?"
        for start in range(0, len(records), 500):
            r = self.http.post("/predict/batch", json={"records": records[start : start + 500]})
            r.raise_for_status()
            body = r.json()
            version = body["model_version"]
            for p in body["predictions"]:
                ids.append(p["request_id"])
                outputs.append(p["probability"] if self.classes else p["prediction"])
        return ids, np.asarray(outputs, dtype=float), version

    def feedback(self, ids: list[str], labels: list[str]) -> None:
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for start in range(0, len(ids), 1000):
            body = {
                "labels": [
                    {"request_id": i, "label": lab}
                    for i, lab in zip(
                        ids[start : start + 1000], labels[start : start + 1000], strict=True
                    )
                ]
            }
            self.http.post("/feedback", json=body, headers=auth).raise_for_status()

    def wait_check(self, previous: str | None) -> dict[str, Any]:
        deadline = time.time() + CHECK_TIMEOUT_S
        while time.time() < deadline:
            d = self.http.get("/drift").json()
            if d.get("report_id") and d["report_id"] != previous:
                return d  # type: ignore[no-any-return]
            time.sleep(0.3)
        return {}

    def old_score(self, window: Window) -> float | None:
        x = window.frame[list(self.spec.features)].copy()
        for col in self.spec.numeric_features:
            x[col] = pd.to_numeric(x[col], errors="coerce").astype("float64")
        out = (self.old_pipeline.predict_proba(x)[:, 1] if self.classes
               else self.old_pipeline.predict(x))  # fmt: skip
        y = window.frame[self.spec.target].to_numpy(dtype=float)
        return _metric(self.spec.metric, y, out, self.threshold)

    def run(self) -> ReplaySummary:
        started = time.time()
        rows: list[WindowRow] = []
        pending: list[tuple[int, list[str], list[str]]] = []
        previous: str | None = None
        for i, window in enumerate(stream(self.pool, self.spec, self.scenario, self.windows,
                                          self.rows, seed=1)):  # fmt: skip
            sent_at = time.time()
            ids, out, version = self.send(window)
            y = window.frame[self.spec.target].to_numpy(dtype=float)
            pending.append((i, ids, self._labels(window.frame[self.spec.target])))
            while pending and pending[0][0] <= i - self.label_delay:
                _, lid, labs = pending.pop(0)
                self.feedback(lid, labs)
            check = self.wait_check(previous)
            previous = check.get("report_id") or previous
            rows.append(self._row(i, window, check, y, out, version, sent_at))
            self._print_row(rows[-1])
            event_id = (check.get("event") or {}).get("event_id")
            if rows[-1].retrain and event_id and self.retrain_wait_s > 0:
                self.outcomes.append(wait_for_retrain(self.store, self.http, event_id, i,
                                                      self.retrain_wait_s))  # fmt: skip
                print("    " + outcome_line(self.outcomes[-1]), flush=True)
        self._settle(rows)
        return self._summary(rows, time.time() - started)

    def _row(self, i: int, window: Window, check: dict[str, Any], y: np.ndarray,
             out: np.ndarray, version: str, sent_at: float) -> WindowRow:  # fmt: skip
        decision = check.get("decision") or {}
        est = (check.get("estimated_performance") or {}).get("estimated") or {}
        fired = list(decision.get("fired") or [])
        drifted = list((check.get("summary") or {}).get("drifted_features") or [])
        if not fired and drifted and decision.get("window_drifted"):
            fired = ["features"]
        model = self.http.get("/model").json()
        since = pd.Timestamp(model.get("loaded_at") or pd.Timestamp.now(tz="UTC")).timestamp()
        return WindowRow(i, window.changed, len(window.frame),
                         _metric(self.spec.metric, y, out, self.threshold),
                         est.get(self.spec.metric),
                         self.old_score(window) if version != self.first_version else None,
                         fired, drifted, bool(decision.get("retrain")), version,
                         str(model.get("version")), since, sent_at, time.time())  # fmt: skip

    def _print_row(self, w: WindowRow) -> None:
        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.4f}"

        print(f"  window {w.index:>2} {'changed' if w.changed else 'same   '} rows {w.rows} "
              f"served {f(w.served)} estimated {f(w.estimated)} v{w.version} "
              f"signals {','.join(w.signals) or '-'} "
              f"{'RETRAIN' if w.retrain else ''}", flush=True)  # fmt: skip

    def _settle(self, rows: list[WindowRow]) -> None:
        """After the last window, wait (bounded) for a decided retrain's version to serve."""
        if not any(r.retrain for r in rows) or self.settle_s <= 0:
            return
        deadline = time.time() + self.settle_s
        while time.time() < deadline:
            model = self.http.get("/model").json()
            if str(model.get("version")) != rows[-1].serving:
                rows[-1].serving = str(model.get("version"))
                rows[-1].serving_since = pd.Timestamp(model["loaded_at"]).timestamp()
                return
            time.sleep(1.0)

    # -- the summary -----------------------------------------------------------------------
    def _summary(self, rows: list[WindowRow], seconds: float) -> ReplaySummary:
        return summarise(self.spec, self.scenario.name, self.rows, self.first_version,
                         self.test_score, rows, seconds, self.outcomes)  # fmt: skip


def replay_scenario(scenario: Scenario, args: argparse.Namespace) -> ReplaySummary:
    windows = scenario.quick_windows if args.quick else scenario.windows
    with tempfile.TemporaryDirectory(prefix=f"replay-{scenario.name}-") as tmp:
        replay = Replay(scenario, Path(tmp), args.rows, windows, args.label_delay, args.settle_s,
                        args.retrain_wait_s)  # fmt: skip
        print(f"{scenario.name}: prepare + train in {tmp} ...", flush=True)
        replay.prepare()
        replay.start()
        try:
            summary = replay.run()
        finally:
            replay.stop()
    print_summary(summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="Run only this scenario (repeatable; default: all).",
    )
    parser.add_argument("--quick", action="store_true", help="Fewer windows per scenario.")
    parser.add_argument("--rows", type=int, default=400, help="Rows per window.")
    parser.add_argument(
        "--label-delay",
        type=int,
        default=0,
        help="Send each window's labels this many windows later.",
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=90.0,
        help="After the last window, wait this long for a decided retrain.",
    )
    parser.add_argument(
        "--retrain-wait-s",
        type=float,
        default=300.0,
        help="After a window that decided a retrain, wait up to this long for it to finish "
        "(and a promoted version to serve) before the next window; 0: do not wait.",
    )
    parser.add_argument(
        "--mode",
        choices=["calibrated", "threshold"],
        default="calibrated",
        help="drift.mode of the scenarios' specs.",
    )
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    replay_scenarios.MODE = args.mode
    results = [replay_scenario(SCENARIOS[name], args) for name in args.scenario or SCENARIOS]
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))


if __name__ == "__main__":
    main()
