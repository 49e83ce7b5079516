"""What every command needs: settings, spec, store and tracker built once at the entry point,
and errors turned into a message on stderr and an exit code.

Settings are frozen: a command that overrides one (``--spec``, ``--data-dir``, ``--url``)
builds the ``Settings`` it needs here, never assigns to them later.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from driftloop.cli.views import error_line
from driftloop.config.errors import DriftloopError

if TYPE_CHECKING:
    from driftloop.adapters.store import ObjectStore
    from driftloop.adapters.tracking import Tracker
    from driftloop.config.settings import Settings
    from driftloop.config.spec import DatasetSpec
    from driftloop.jobs.champion import DeferredTracker

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def setting_problems(exc: ValidationError) -> str:
    """A settings validation error as ``where: what`` pairs (an unknown key named as such)."""
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        problems.append(
            f"unknown setting '{where}'"
            if e["type"] == "extra_forbidden"
            else f"{where}: {e['msg']}"
        )
    return "; ".join(problems)


def handle_errors(fn: F) -> F:
    """Turn driftloop errors into a red message and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DriftloopError as exc:
            err_console.print(error_line(str(exc)), highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except ValidationError as exc:  # a bad DRIFTLOOP_* setting
            err_console.print(
                error_line(f"invalid setting: {setting_problems(exc)}"), highlight=False
            )
            raise typer.Exit(2) from None
        except OSError as exc:
            from driftloop.adapters.store import StoreUnavailableError

            if isinstance(exc, StoreUnavailableError):
                err_console.print(error_line(str(exc)), highlight=False)
                raise typer.Exit(1) from None
            raise
        except Exception as exc:
            # An MLflow call the tracker does not wrap, failing for want of a server: an
            # outage (exit 1, naming the server), not a traceback; anything else surfaces.
            if not type(exc).__module__.startswith("mlflow."):
                raise
            from driftloop.adapters.tracking import tracking_outage

            outage = tracking_outage(exc)
            if outage is None:
                raise
            err_console.print(error_line(str(outage)), highlight=False)
            raise typer.Exit(outage.exit_code) from None

    return wrapper  # type: ignore[return-value]


class Context:
    """Settings, spec, store and tracker, built once per command.

    ``overrides`` are settings the command's options give (``spec``, ``store_url``, ...);
    they go into ``Settings(...)`` with the environment, so the result is built once.
    """

    def __init__(self, spec_path: Path | None = None, **overrides: Any) -> None:
        from driftloop.config.logs import configure_logging
        from driftloop.config.settings import Settings

        given = {k: v for k, v in overrides.items() if v not in (None, "")}
        if spec_path is not None:
            given["spec"] = spec_path
        self.settings: Settings = Settings(**given)
        configure_logging(self.settings.json_logs)
        self._spec: DatasetSpec | None = None
        self._store: ObjectStore | None = None
        self._tracker: Tracker | None = None

    @property
    def spec(self) -> DatasetSpec:
        if self._spec is None:
            from driftloop.config.spec import load_spec

            self._spec = load_spec(self.settings.spec)
        return self._spec

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            from driftloop.adapters.store import ObjectStore

            self._store = ObjectStore.from_settings(self.settings)
        return self._store

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            from driftloop.adapters.tracking import Tracker

            self._tracker = Tracker(self.settings, self.store)
        return self._tracker

    def deferred_tracker(self) -> DeferredTracker:
        """The tracker for jobs that need MLflow only when the store does not know something
        yet (``detect``, ``status``): built, once, the first time they ask."""
        from driftloop.jobs.champion import DeferredTracker

        return DeferredTracker(self.settings.model_name, lambda: self.tracker)
