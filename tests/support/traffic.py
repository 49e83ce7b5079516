"""Background traffic for the fault tests: clients that keep predicting while something
breaks, and count what came back."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Traffic:
    """Background clients sending /predict and small /predict/batch requests in a loop.

    Keeps the request id of every row that got a 200 and counts every other outcome
    (status codes, or the exception name when no answer came).
    """

    def __init__(self, base_url: str, records: list[dict[str, Any]], clients: int = 2,
                 batch: int = 5) -> None:  # fmt: skip
        self.base_url = base_url
        self.records = records
        self.clients = clients
        self.batch = batch
        self.ok_ids: list[str] = []
        self.failures: Counter[str] = Counter()
        self.answered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self, offset: int) -> None:
        import httpx

        i = offset
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            while not self._stop.is_set():
                i += 1
                single = i % 4 != 0
                try:
                    if single:
                        r = client.post("/predict", json=self.records[i % len(self.records)])
                    else:
                        start = i % (len(self.records) - self.batch)
                        body = {"records": self.records[start : start + self.batch]}
                        r = client.post("/predict/batch", json=body)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures[type(exc).__name__] += 1
                    continue
                with self._lock:
                    self.answered += 1
                    if r.status_code != 200:
                        self.failures[str(r.status_code)] += 1
                    elif single:
                        self.ok_ids.append(r.json()["request_id"])
                    else:
                        self.ok_ids += [p["request_id"] for p in r.json()["predictions"]]

    def start(self) -> Traffic:
        for n in range(self.clients):
            t = threading.Thread(target=self._run, args=(n * 1000,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def rows(self) -> int:
        with self._lock:
            return len(self.ok_ids)
