"""The replay's view of a retrain it started: wait for it to finish (and a promoted version
to serve) before the next window, as if it ran between windows, and keep what the gate said.

Without the wait, a machine that replays windows faster than a retrain trains sees every
window answered by the first champion, and the promoted model is never compared with it.
"""

from __future__ import annotations

import time
from typing import Any

from driftloop.core.gate import interval_text

FINAL = {"retrain-promoted", "retrain-trained", "retrain-rejected", "retrain-failed",
         "retrain-skipped", "retrain-superseded"}  # fmt: skip


def wait_for_retrain(store: Any, http: Any, event_id: str, window: int, timeout_s: float) -> dict:
    """The outcome of the event's retrain: status, gate reason and scores, the version now
    serving, and how long the wait took (status ``timeout`` when it did not finish)."""
    started = time.time()
    outcome: dict[str, Any] = {"window": window, "event_id": event_id, "status": "timeout"}
    while time.time() - started < timeout_s:
        try:
            record = store.read_json(f"events/{event_id}.json")
        except Exception:  # noqa: BLE001 - not written yet: keep waiting
            record = {}
        status = str(record.get("status") or "")
        if status in FINAL:
            result = next((h.get("result") for h in reversed(record.get("history") or [])
                           if h.get("result")), None) or {}  # fmt: skip
            gate = result.get("gate") or {}
            outcome |= {"status": status.removeprefix("retrain-"),
                        "reason": result.get("reason") or _last_reason(record),
                        "challenger": result.get("challenger_version"),
                        "scores": gate.get("scores"),
                        "interval": gate.get("interval")}  # fmt: skip
            if status == "retrain-promoted":
                _wait_serving(http, str(result.get("challenger_version")),
                              timeout_s - (time.time() - started))  # fmt: skip
            break
        time.sleep(1.0)
    outcome["serving"] = str(http.get("/model").json().get("version"))
    outcome["waited_s"] = round(time.time() - started, 1)
    return outcome


def _last_reason(record: dict) -> str | None:
    for step in reversed(record.get("history") or []):
        if step.get("reason") or step.get("error"):
            return str(step.get("reason") or step.get("error"))
    return None


def _wait_serving(http: Any, version: str, timeout_s: float) -> None:
    deadline = time.time() + max(timeout_s, 5.0)
    while time.time() < deadline:
        if str(http.get("/model").json().get("version")) == version:
            return
        time.sleep(0.5)


def outcome_line(o: dict) -> str:
    """One printed line per retrain."""
    scores = o.get("scores") or {}
    both = {k: v for k, v in scores.items()
            if v.get("challenger") is not None and v.get("champion") is not None}  # fmt: skip
    shown = ", ".join(f"{k} {v['challenger']:.4f} vs {v['champion']:.4f}" for k, v in both.items())
    return (
        f"retrain from window {o['window']}: {o['status']} after {o['waited_s']} s"
        + (f" (challenger v{o['challenger']}: {shown})" if shown else "")
        + (f"; {interval_text(o['interval'])}" if o.get("interval") else "")
        + (f" — {o['reason']}" if o.get("reason") and not shown else "")
    )
