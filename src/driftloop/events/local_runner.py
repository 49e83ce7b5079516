"""The local retrain runner: an accepted event starts `driftloop retrain` in the background."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from driftloop.config.settings import Settings
from driftloop.events.model import DriftEvent

log = logging.getLogger("driftloop.events")


def retrain_command(event: DriftEvent, settings: Settings) -> list[str]:
    """The `driftloop retrain` command line an accepted event runs."""
    model_dir = settings.state_dir / "retrains" / event.event_id
    return [
        sys.executable,
        "-m",
        "driftloop",
        "retrain",
        "--data-dir",
        event.data_dir or settings.store,
        "--model-dir",
        str(model_dir),
        "--reference-data-path",
        event.reference_data_path,
        "--current-data-path",
        event.current_data_path,
        "--event-id",
        event.event_id,
    ]


def start_local_retrain(event: DriftEvent, settings: Settings) -> subprocess.Popen[bytes]:
    """Run the retrain for an accepted event in a background process (local mode)."""
    logs = Path(settings.state_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = (logs / f"retrain-{event.event_id}.log").open("ab")
    proc = subprocess.Popen(
        retrain_command(event, settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    log.info("local retrain started", extra={"event_id": event.event_id, "pid": proc.pid})
    return proc
