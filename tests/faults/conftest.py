"""Fault tests share the session's trained champion (``tests/conftest.py::trained_state``).

Servers here run as real ``driftloop serve`` processes (starting one costs seconds, so
they are few). The store-outage and crash tests read the session registry (SQLite) and
write to a store of their own, a moto bucket holding a copy of the dataset files
(``s3_store_env``). The fuzz, auth, artifact and retrain tests share one clone of the
registry (``shared_state``, its own SQLite database and artifacts) and one server on it
(``shared_server``): each of those tests leaves ``champion`` where it found it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.processes import ServerProcess
from ..support.state import QUIET_SERVER, TrainedState, clone_state, serve_env


@pytest.fixture(scope="package")
def shared_state(
    trained_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> TrainedState:
    """A registry of this package's own whose champion is the session champion's pipeline."""
    return clone_state(trained_state, tmp_path_factory.mktemp("faults-clone"))


@pytest.fixture(scope="package")
def shared_server(
    shared_state: TrainedState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server on the shared clone: reloads only on /admin/reload, no drift monitor."""
    env = serve_env(shared_state, **QUIET_SERVER, log_flush_interval_s=0.5)
    server = ServerProcess(env, tmp_path_factory.mktemp("faults-server") / "server.log")
    server.start()
    yield server
    assert server.stop(), server.log()
