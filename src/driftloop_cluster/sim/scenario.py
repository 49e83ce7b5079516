"""The drift-loop scenario, shared by ``make cluster-sim`` and ``make cluster-e2e``.

It talks to a cluster only through :class:`Cluster` (the miniature implements it with local
processes, the kind script with kubectl), so both run the same steps and the same checks:

1. versions before: every API replica and MLServer answer;
2. normal traffic to every API replica, then the CronJob's command: no event, no workflow;
3. drifted traffic to every API replica: the monitors and the CronJob see drift, exactly one
   workflow retrains (duplicate and second-replica events acknowledged, not re-run), its
   steps detect -> retrain -> evaluate -> promote -> reload, and every API replica and
   MLServer then answer with the new version;
4. a wrong bearer token, a wrong signature and a replayed event change nothing;
5. faults: MLflow down during traffic (predictions answered; a retrain fails and is
   recorded as failed, not left running); the store down during a retrain (champion kept);
6. compaction: the compact CronJob's command merges the segments all this traffic wrote
   into one file per day, every row kept, and an API replica's monitor then reads a window
   that reaches into the merged file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from driftloop.core.signing import SIGNATURE_HEADER, sign_body

RETRAIN_STEPS = ("retrain", "evaluate", "promote", "reload")


@dataclass(frozen=True)
class Check:
    """One assertion of the scenario."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class WorkflowView:
    """A workflow as the scenario sees it."""

    name: str
    phase: str
    parameters: Mapping[str, str]
    exit_codes: Mapping[str, int | None]
    """Step -> exit code (None: skipped)."""

    def ran(self, step: str) -> bool:
        """The step ran and exited 0."""
        return self.exit_codes.get(step) == 0


@dataclass(frozen=True)
class InferenceLogView:
    """The inference log in the object store, as read from outside the workloads."""

    keys: tuple[str, ...]
    """Segment keys, sorted."""
    rows: int
    """Rows they hold."""


COMPACTED = "-compacted-"
"""What a merged daily file's name holds (``<yyyymmdd>-compacted-<token>.parquet``)."""


class Cluster(Protocol):
    """What the scenario needs of a cluster."""

    api_urls: list[str]
    """Base URL of each API replica (directly, not through the Service)."""
    mlserver_url: str
    webhook_url: str
    admin_token: str
    webhook_token: str
    webhook_secret: str

    def run_cronjob(self, name: str = "driftloop-detect") -> tuple[int, str]: ...
    def inference_log(self) -> InferenceLogView: ...
    def workflows(self) -> list[WorkflowView]: ...
    def wait_workflows_idle(self, timeout_s: float) -> bool: ...
    def submit_workflow(self, parameters: Mapping[str, str]) -> None: ...
    def set_down(self, service: str, down: bool) -> None: ...
    def captured_event(self) -> tuple[dict[str, str], bytes] | None: ...


def _summary(runs: list[WorkflowView]) -> str:
    return "; ".join(f"{w.name} {w.phase} {dict(w.exit_codes)}" for w in runs) or "none"


def _stopped_first(run: WorkflowView) -> bool:
    """The workflow's first step refused to go on (a non-zero exit), and nothing else ran."""
    codes = list(run.exit_codes.values())
    return bool(codes) and codes[0] not in (0, None) and all(c is None for c in codes[1:])


@dataclass
class Scenario:
    """Runs the steps; ``checks`` collects every assertion (they do not stop the run)."""

    cluster: Cluster
    checks: list[Check] = field(default_factory=list)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    log: Callable[[str], None] = print

    def check(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        self.log(f"{'PASS' if passed else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return bool(passed)

    # --- observations -----------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.cluster.admin_token}"}

    def served(self) -> dict[str, str]:
        """Per API replica its model_version and answers; MLServer's answers."""
        out: dict[str, str] = {}
        for i, url in enumerate(self.cluster.api_urls):
            try:
                out[f"api-{i}"] = self.api_answer(url)
            except (httpx.HTTPError, ValueError) as err:
                out[f"api-{i}"] = f"error: {err}"
        out["mlserver"] = self._mlserver_digest()
        return out

    def _mlserver_digest(self) -> str:
        if not self.rows:
            return "no rows"
        inputs = []
        for name in self.rows[0]:
            values = [r[name] for r in self.rows]
            numeric = all(isinstance(v, int | float) for v in values)
            inputs.append({"name": name, "shape": [len(values)],
                           "datatype": "FP64" if numeric else "BYTES",
                           "data": [float(v) if numeric else str(v) for v in values]})  # fmt: skip
        try:
            resp = httpx.post(f"{self.cluster.mlserver_url}/v2/models/driftloop-model/infer",
                              json={"inputs": inputs}, timeout=60)  # fmt: skip
        except httpx.HTTPError as err:
            return f"error: {err}"
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}"
        data = resp.json()["outputs"][0]["data"]
        return ",".join(f"{float(v):.6f}" for v in data[1::2][:4])

    def api_answer(self, url: str) -> str:
        """``v<version> <probabilities>`` of a replica for the scenario rows."""
        resp = httpx.post(f"{url}/predict/batch", json={"records": self.rows}, timeout=60)
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}"
        body = resp.json()
        probs = ",".join(f"{float(p['probability']):.6f}" for p in body["predictions"][:4])
        return f"v{body['model_version']} {probs}"

    def traffic(self, drift_type: str, n: int) -> list[int]:
        """``/simulate-drift`` on every replica; the HTTP statuses."""
        statuses = []
        for url in self.cluster.api_urls:
            resp = httpx.post(f"{url}/simulate-drift", json={"drift_type": drift_type, "n": n},
                              headers=self._auth(), timeout=300)  # fmt: skip
            statuses.append(resp.status_code)
        return statuses

    # --- the steps --------------------------------------------------------------------

    def run(self) -> list[Check]:
        """Every step, in order; the checks."""
        self.versions["before"] = self.served()
        before = self.versions["before"]
        apis = [v for k, v in before.items() if k.startswith("api-")]
        self.check("every API replica answers before", all(a.startswith("v") for a in apis),
                   str(apis))  # fmt: skip
        self.check("MLServer answers the champion before",
                   before["mlserver"] == apis[0].split(" ", 1)[-1], before["mlserver"])  # fmt: skip
        self.normal_traffic()
        first = self.drifted_traffic()
        self.bad_events(first)
        self.mlflow_down()
        self.store_down()
        self.compaction()
        return self.checks

    def normal_traffic(self) -> None:
        statuses = self.traffic("none", 150)
        self.check(
            "normal traffic answered by every replica", set(statuses) == {200}, str(statuses)
        )
        time.sleep(7)  # a log flush
        code, output = self.cluster.run_cronjob()
        self.check("CronJob on normal traffic: no retrain", code == 0, f"exit {code}")
        time.sleep(3)
        self.check("normal traffic: no workflow", not self.cluster.workflows(),
                   f"{len(self.cluster.workflows())} workflows")  # fmt: skip

    def drifted_traffic(self) -> WorkflowView | None:
        statuses = self.traffic("shift_and_concept", 600)  # inputs and relation: a retrain wins
        self.check(
            "drifted traffic answered by every replica", set(statuses) == {200}, str(statuses)
        )
        time.sleep(7)
        code, output = self.cluster.run_cronjob()
        self.check("CronJob sees the drift", '"drift_detected": true' in output.replace("'", '"')
                   or code == 3, f"exit {code}")  # fmt: skip
        deadline = time.monotonic() + 90  # the replicas' monitors report in the background
        while time.monotonic() < deadline and len(self.cluster.workflows()) < 2:
            time.sleep(2)
        time.sleep(10)
        self.check("workflows finish", self.cluster.wait_workflows_idle(900))
        runs = self.cluster.workflows()
        retrained = [w for w in runs if w.ran("retrain")]
        self.check("more than one event (replicas, CronJob) submitted", len(runs) >= 2,
                   f"{len(runs)} workflows: {[w.name for w in runs]}")  # fmt: skip
        self.check("exactly one workflow retrains", len(retrained) == 1,
                   "; ".join(f"{w.name} {w.phase} {dict(w.exit_codes)}" for w in runs))  # fmt: skip
        if not retrained:
            self.versions["after"] = self.served()
            return None
        first = retrained[0]
        # The first event's workflow must retrain: on a cluster with one replica and no
        # CronJob run in between there is no second chance (defect 2 was this).
        self.check("the first event's workflow is the one that retrains", first is runs[0],
                   f"{runs[0].name}: {dict(runs[0].exit_codes)}")  # fmt: skip
        self.check("its steps: detect decides retrain, then every step",
                   first.exit_codes.get("detect") == 3 and all(first.ran(s) for s in RETRAIN_STEPS),
                   str(dict(first.exit_codes)))  # fmt: skip
        # A second delivery of one id stops at the first step (claimed before); another
        # replica's event (its own id) is re-checked and cooled down: neither retrains.
        others = [w for w in runs if w is not first]
        self.check("the others acknowledged, not re-run",
                   all(not any(w.ran(s) for s in RETRAIN_STEPS)
                       and (w.phase == "Succeeded" or _stopped_first(w)) for w in others),
                   _summary(others))  # fmt: skip
        self._converged("after")
        return first

    def _converged(self, label: str, timeout_s: float = 90.0) -> None:
        """Wait for every replica and MLServer to answer the same, new version."""
        old = self.versions["before"]["api-0"]
        deadline = time.monotonic() + timeout_s
        while True:
            now = self.served()
            apis = [v for k, v in now.items() if k.startswith("api-")]
            new = len(set(apis)) == 1 and apis[0] != old
            if new and now["mlserver"] == apis[0].split(" ", 1)[-1]:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(3)
        self.versions[label] = now
        self.check("every API replica answers the new version", new, str(apis))
        self.check("MLServer answers the new version", now["mlserver"] == apis[0].split(" ", 1)[-1],
                   now["mlserver"])  # fmt: skip

    def _send(self, headers: Mapping[str, str], body: bytes) -> int:
        resp = httpx.post(self.cluster.webhook_url, content=body, headers=dict(headers), timeout=30)
        return resp.status_code

    def _unchanged(self, name: str, count_before: int) -> None:
        self.cluster.wait_workflows_idle(600)
        new = self.cluster.workflows()[count_before:]
        self.check(f"{name}: nothing retrained",
                   not any(w.ran(s) for w in new for s in RETRAIN_STEPS),
                   _summary(new))  # fmt: skip

    def _signed_event(self, drift_score: float) -> tuple[dict[str, str], bytes]:
        """A hand-sent event as ``driftloop event send`` makes it (signed, bearer token)."""
        from driftloop.events.model import DriftEvent, encode_event

        body = encode_event(
            DriftEvent(source="manual", drift_score=drift_score, force_retrain=True)
        )
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign_body(body, self.cluster.webhook_secret),
                   "Authorization": f"Bearer {self.cluster.webhook_token}"}  # fmt: skip
        return headers, body

    def bad_events(self, first: WorkflowView | None) -> None:
        """Wrong token, forged signature, then a valid hand-sent event (it must retrain:
        the control that shows the other two could have) and its replay."""
        headers, body = self._signed_event(0.5)
        count = len(self.cluster.workflows())
        status = self._send({**headers, "Authorization": "Bearer wrong"}, body)
        self.check("wrong bearer token refused", status == 401, f"HTTP {status}")
        self._unchanged("wrong bearer token", count)
        count = len(self.cluster.workflows())
        self._send({**headers, SIGNATURE_HEADER: "sha256=" + "0" * 64}, body)
        self._unchanged("wrong signature", count)
        forged = self.cluster.workflows()[count:]
        self.check("wrong signature: the workflow's first step rejects it",
                   all(_stopped_first(w) for w in forged),
                   _summary(forged))  # fmt: skip
        count = len(self.cluster.workflows())
        before = self.served()["api-0"]
        self._send(headers, body)
        self.cluster.wait_workflows_idle(900)
        valid = self.cluster.workflows()[count:]
        self.check("a valid hand-sent event (drift_score 0.5) retrains",
                   any(w.ran("promote") for w in valid),
                   _summary(valid))  # fmt: skip
        time.sleep(8)  # the replicas' reload interval
        self.versions["after hand-sent event"] = self.served()
        count = len(self.cluster.workflows())
        self._send(headers, body)
        self._unchanged("replayed event id", count)
        self.log(f"champion before the hand-sent event: {before}")

    def _forced_retrain(self, label: str, service: str) -> None:
        champion = self.served()
        count = len(self.cluster.workflows())
        self.cluster.set_down(service, True)
        try:
            statuses = [self.api_answer(u) for u in self.cluster.api_urls]
            self.check(f"{label}: predictions still answered",
                       all(s.startswith("v") for s in statuses), str(statuses))  # fmt: skip
            self.cluster.submit_workflow({"event-id": uuid.uuid4().hex, "force-retrain": "true"})
            time.sleep(2)
            finished = self.cluster.wait_workflows_idle(900)
        finally:
            self.cluster.set_down(service, False)
        runs = self.cluster.workflows()[count:]
        self.check(f"{label}: the retrain fails and is recorded, not left running",
                   finished and bool(runs) and all(w.phase in ("Failed", "Error") for w in runs),
                   "; ".join(f"{w.name} {w.phase} {dict(w.exit_codes)}" for w in runs))  # fmt: skip
        time.sleep(6)
        after = self.served()
        self.check(f"{label}: champion untouched",
                   [after[k] for k in after if k.startswith("api-")]
                   == [champion[k] for k in champion if k.startswith("api-")],
                   f"{champion} -> {after}")  # fmt: skip

    def mlflow_down(self) -> None:
        self._forced_retrain("MLflow down", "mlflow/mlflow")

    def store_down(self) -> None:
        self._forced_retrain("store down", "minio/minio")

    def compaction(self) -> None:
        """The compact CronJob merges the segments the traffic wrote; nothing is lost, and
        the server's monitor still reads its window."""
        before = self.cluster.inference_log()
        compacted_at = datetime.now(UTC)
        code, output = self.cluster.run_cronjob("driftloop-compact")
        after = self.cluster.inference_log()
        lines = [line for line in output.splitlines() if line.strip()]
        self.check("compact CronJob runs", code == 0,
                   f"exit {code}: {lines[-1] if lines else 'no output'}")  # fmt: skip
        small = [k for k in before.keys if COMPACTED not in k]
        days = {k.rsplit("/", 1)[0] for k in before.keys}
        merged = {d: [k for k in after.keys if k.startswith(d + "/") and COMPACTED in k]
                  for d in days}  # fmt: skip
        self.check("compact: the traffic's segments merged into one file per day",
                   len(small) > 1 and not set(small) & set(after.keys)
                   and all(len(m) == 1 for m in merged.values()),
                   f"{len(before.keys)} keys in {len(days)} days -> {len(after.keys)}")  # fmt: skip
        self.check("compact: every row kept", after.rows >= before.rows > 0,
                   f"{before.rows} -> {after.rows} rows")  # fmt: skip
        self._window_after_compaction(compacted_at)

    def _window_after_compaction(self, compacted_at: datetime, timeout_s: float = 150) -> None:
        """One monitor check's worth of rows to the first API replica; its check must read
        rows logged before the compaction (now only in the merged file)."""
        url = self.cluster.api_urls[0]
        every = int(httpx.get(f"{url}/dashboard/data", timeout=60).json()["monitor"]["every_rows"])
        checks = int(httpx.get(f"{url}/drift", timeout=30).json().get("checks_in_this_process", 0))
        httpx.post(f"{url}/simulate-drift", json={"drift_type": "none", "n": every},
                   headers=self._auth(), timeout=300)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        drift: dict[str, Any] = {}
        while time.monotonic() < deadline:
            drift = httpx.get(f"{url}/drift", timeout=30).json()
            if int(drift.get("checks_in_this_process", 0)) > checks:
                break
            time.sleep(3)
        window = drift.get("window") or {}
        start = window.get("start")
        self.check("after compaction the API's monitor reads a window reaching into it",
                   int(drift.get("checks_in_this_process", 0)) > checks
                   and not drift.get("last_error") and start is not None
                   and datetime.fromisoformat(str(start)) < compacted_at,
                   f"window {window}, last error {drift.get('last_error')}")  # fmt: skip
