"""Rich drawings of a job's progress: the callbacks ``jobs.progress`` describes.

Each is a context manager so the live display stops however the job ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from driftloop.jobs.progress import Step

_COLORS = {"done": "green", "running": "yellow", "failed": "red", "waiting": "dim"}


class _LiveDisplay:
    """Start on ``with``, stop on leaving it."""

    _display: Live | Progress

    def __enter__(self) -> Self:
        self._display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._display.stop()


class TrainingBar(_LiveDisplay):
    """A progress bar over the candidates being trained: ``training ━━━ 2/4 lightgbm``."""

    def __init__(self, console: Console) -> None:
        self.bar = self._display = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def __call__(self, steps: Sequence[Step]) -> None:
        if self._task is None:
            self._task = self.bar.add_task("", total=len(steps))
        running = next((s.name for s in steps if s.status == "running"), None)
        self.bar.update(
            self._task,
            completed=sum(s.status in ("done", "failed") for s in steps),
            description=running,  # None keeps the last one's name once all are done
        )


class Timeline(_LiveDisplay):
    """The demo's live table of steps."""

    def __init__(self, console: Console, steps: Sequence[Step] = ()) -> None:
        self.live = self._display = Live(
            timeline_table(steps), console=console, refresh_per_second=4, transient=False
        )

    def __call__(self, steps: Sequence[Step]) -> None:
        self.live.update(timeline_table(steps))


def timeline_table(steps: Sequence[Step]) -> Table:
    """Steps as rows: number, name, coloured status, seconds, detail."""
    table = Table(title="driftloop demo", expand=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("status")
    table.add_column("s", justify="right")
    table.add_column("detail", overflow="fold", max_width=70)
    for i, s in enumerate(steps, 1):
        table.add_row(
            str(i),
            s.name,
            Text(s.status, style=_COLORS.get(s.status, "")),
            f"{s.seconds:.1f}" if s.seconds else "",
            s.detail,
        )
    return table
