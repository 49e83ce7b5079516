"""Progress of a long job as plain values: the job keeps a list of steps and hands it to a
callback each time one changes; whoever shows it (the CLI, with Rich) implements the callback.
Jobs never draw anything themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

StepStatus = Literal["waiting", "running", "done", "failed"]


@dataclass
class Step:
    """One step of a job: what it is, how far it got, what it found, how long it took."""

    name: str
    status: StepStatus = "waiting"
    detail: str = ""
    seconds: float = 0.0


class ProgressCallback(Protocol):
    """Told the whole list of steps each time one of them changes."""

    def __call__(self, steps: Sequence[Step]) -> None: ...


def no_progress(steps: Sequence[Step]) -> None:
    """The callback of a caller that shows nothing."""


def run_step(
    steps: list[Step], index: int, fn: Callable[[], str], progress: ProgressCallback
) -> None:
    """Run one step: mark it running, time it, keep the detail ``fn`` returns, or mark it
    failed with the error (and raise it)."""
    step = steps[index]
    step.status = "running"
    progress(steps)
    started = time.perf_counter()
    try:
        step.detail = fn()
        step.status = "done"
    except Exception as exc:
        step.status, step.detail = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        step.seconds = time.perf_counter() - started
        progress(steps)
