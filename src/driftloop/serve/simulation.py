"""Per-server state of simulated traffic: how far along its run a ``gradual`` drift is."""

from __future__ import annotations

import threading


class GradualSteps:
    """Counts ``gradual`` calls to /simulate-drift (1, 2, ...), one count per server process;
    a call may restart the run at 1."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._step = 0

    def next_step(self, restart: bool = False) -> int:
        """The number of this call (1 after a restart)."""
        with self._lock:
            self._step = 1 if restart else self._step + 1
            return self._step
