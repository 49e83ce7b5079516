"""The ``driftloop`` command line: thin wrappers that build settings and call the jobs.

Heavy libraries (MLflow, Evidently, scikit-learn) are imported inside commands so that
``driftloop --help`` stays fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from driftloop.errors import DriftloopError

app = typer.Typer(
    name="driftloop",
    help="Keep a deployed tabular model healthy: prepare, train, serve, detect, retrain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", help="Data set spec (YAML). Default: $DRIFTLOOP_SPEC or configs/telco.yaml."),
]


def handle_errors(fn: F) -> F:
    """Turn driftloop errors into a red message and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DriftloopError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            from driftloop.store import StoreUnavailableError

            if isinstance(exc, StoreUnavailableError):
                err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


class Context:
    """Settings, spec, store and tracker, built once per command."""

    def __init__(self, spec_path: Path | None = None, store_url: str | None = None) -> None:
        from driftloop.logs import configure_logging
        from driftloop.settings import Settings

        overrides: dict[str, Any] = {}
        if spec_path is not None:
            overrides["spec"] = spec_path
        if store_url:
            overrides["store_url"] = store_url
        self.settings = Settings(**overrides)
        configure_logging(self.settings.json_logs)
        self._spec: Any = None
        self._store: Any = None
        self._tracker: Any = None

    @property
    def spec(self) -> Any:
        if self._spec is None:
            from driftloop.spec import load_spec

            self._spec = load_spec(self.settings.spec)
        return self._spec

    @property
    def store(self) -> Any:
        if self._store is None:
            from driftloop.store import ObjectStore

            self._store = ObjectStore.from_settings(self.settings)
        return self._store

    @property
    def tracker(self) -> Any:
        if self._tracker is None:
            from driftloop.tracking import Tracker

            self._tracker = Tracker(self.settings, self.store)
        return self._tracker


def metrics_table(title: str, metrics: dict[str, float]) -> Table:
    """A two-column table of metric values."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}")
    return table


@app.command()
@handle_errors
def prepare(
    spec: SpecOption = None,
    source: Annotated[
        Path | None, typer.Option(help="Raw CSV or Parquet file (default: the spec's source).")
    ] = None,
) -> None:
    """Clean, validate and split a raw data set into a versioned dataset in the store."""
    from driftloop.jobs.prepare import prepare_dataset

    ctx = Context(spec)
    s = ctx.spec if source is None else ctx.spec.with_source(source.resolve())
    result = prepare_dataset(s, ctx.store)
    c = result.cleaning
    table = Table(title=f"dataset {result.version} ({'written' if result.created else 'unchanged'})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows read", str(c.rows_in))
    for col, n in c.blank_to_missing.items():
        table.add_row(f"blank -> missing: {col}", str(n))
    for col, n in c.invalid_to_missing.items():
        table.add_row(f"non-numeric -> missing: {col}", str(n))
    table.add_row("strings stripped", str(c.strings_stripped))
    table.add_row("duplicate rows dropped", str(c.duplicates_dropped))
    table.add_row("rows without target dropped", str(c.missing_target_dropped))
    for split, n in result.rows.items():
        table.add_row(f"rows in {split}", str(n))
    console.print(table)
    console.print(f"version [bold]{result.version}[/] at {result.uri}")


@app.command()
@handle_errors
def train(
    spec: SpecOption = None,
    dataset_version: Annotated[
        str | None, typer.Option(help="Dataset version (default: the latest prepared).")
    ] = None,
) -> None:
    """Train every candidate in the spec, track them in MLflow, register the best."""
    from driftloop.jobs.train import train_models

    ctx = Context(spec)
    result = train_models(ctx.spec, ctx.store, ctx.tracker, dataset_version, err_console)
    metric = ctx.spec.metric
    table = Table(title=f"candidates on dataset {result.dataset_version} (validation split)")
    table.add_column("candidate")
    for m in result.candidates[0].metrics:
        table.add_column(m, justify="right")
    table.add_column("seconds", justify="right")
    for r in result.candidates:
        mark = " *" if r.name == result.best else ""
        table.add_row(r.name + mark, *(f"{v:.4f}" for v in r.metrics.values()),
                      f"{r.seconds:.1f}")
    console.print(table)
    cmp = result.comparison
    console.print(
        f"registered [bold]{result.registered.name} v{result.registered.version}[/] "
        f"({result.best}); test {metric} {cmp['new_score']:.4f}"
        + (f" vs champion v{cmp['champion_version']} {cmp['champion_score']:.4f}"
           if cmp.get("champion_version") else "")
    )
    console.print(
        "[green]alias champion -> v" + result.registered.version + "[/]"
        if result.promoted else f"[yellow]champion unchanged[/]: {cmp['reason']}"
    )


@app.command()
@handle_errors
def evaluate(
    spec: SpecOption = None,
    alias: Annotated[str | None, typer.Option(help="Model alias to score.")] = None,
    version: Annotated[str | None, typer.Option(help="Model version to score.")] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the metrics JSON here.")] = None,
) -> None:
    """Score a registered model (champion by default) on the test split."""
    import json

    from driftloop.jobs.evaluate import evaluate_model

    if alias and version:
        raise typer.BadParameter("give --alias or --version, not both")
    ctx = Context(spec)
    result = evaluate_model(ctx.spec, ctx.store, ctx.tracker, alias or "champion", version)
    console.print(metrics_table(
        f"{result.model_name} v{result.version} on test split of {result.dataset_version} "
        f"({result.rows} rows)", result.metrics))
    console.print(f"metrics written to {ctx.store.uri(result.key)}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2))


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
