"""Service DNS -> loopback, one recording TCP proxy per (client workload, Service port).

Each workload's env values and args have their Service names
(``<svc>.<ns>.svc.cluster.local:<port>``, ``<svc>.<ns>.svc:<port>``, ``<svc>.<ns>:<port>``
and, inside the Service's namespace, ``<svc>:<port>``) rewritten to ``127.0.0.1:<p>``, where
``p`` is a proxy of that client for that Service port. The proxy records each connection as
a flow (who connected to which Service) and forwards it to one of the Service's backends
(round robin). A Service can be taken down: its proxies then refuse connections, as a
Service with no ready endpoints does.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Flow:
    """One connection a workload opened to a Service port."""

    client: str
    """Client workload, ``namespace/name``."""
    service: str
    """Service, ``namespace/name``."""
    port: int
    """Service port."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dns_pattern(service: str, namespace: str, port: int, same_namespace: bool) -> re.Pattern[str]:
    """The Service's DNS names followed by ``:port`` (short form only in its namespace)."""
    long = rf"{re.escape(service)}\.{re.escape(namespace)}(?:\.svc(?:\.cluster\.local)?)?"
    name = rf"(?:{long}|{re.escape(service)})" if same_namespace else long
    return re.compile(rf"(?<![\w.-]){name}:{port}(?!\d)")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class Router:
    """The proxies, the recorded flows and which Services are down."""

    def __init__(self) -> None:
        self.flows: list[Flow] = []
        self.refused: list[Flow] = []
        self._backends: dict[tuple[str, int], Callable[[], list[int]]] = {}
        self._turns: dict[tuple[str, int], itertools.count[int]] = {}
        self._down: set[str] = set()
        self._routes: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def add_service(self, service: str, port: int, backends: Callable[[], list[int]]) -> None:
        """Register a Service port; ``backends`` gives the loopback ports behind it now."""
        self._backends[(service, port)] = backends
        self._turns[(service, port)] = itertools.count()

    def set_down(self, service: str, down: bool) -> None:
        """Take a Service's endpoints away (or give them back)."""
        (self._down.add if down else self._down.discard)(service)

    def route(self, client: str, service: str, port: int) -> int:
        """The loopback port ``client`` uses for ``service:port`` (made on first use)."""
        key = (client, service, port)
        with self._lock:
            if key not in self._routes:
                listen = free_port()
                future = asyncio.run_coroutine_threadsafe(self._listen(key, listen), self._loop)
                future.result(timeout=10)
                self._routes[key] = listen
            return self._routes[key]

    async def _listen(self, key: tuple[str, str, int], port: int) -> None:
        flow = Flow(*key)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            backends = self._backends[(flow.service, flow.port)]()
            if flow.service in self._down or not backends:
                self.refused.append(flow)
                writer.close()
                return
            self.flows.append(flow)
            turn = next(self._turns[(flow.service, flow.port)])
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", backends[turn % len(backends)]
                )
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

        await asyncio.start_server(handle, "127.0.0.1", port)

    def rewrite(
        self, text: str, client: str, client_namespace: str, services: Iterable[tuple[str, int]]
    ) -> str:
        """``text`` with every Service DNS name and port it mentions pointed at a proxy."""
        for service, port in services:
            namespace, name = service.split("/", 1)
            pattern = dns_pattern(name, namespace, port, namespace == client_namespace)
            if pattern.search(text):
                local = self.route(client, service, port)
                text = pattern.sub(f"127.0.0.1:{local}", text)
        return text

    def close(self) -> None:
        """Stop the proxies' event loop."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
