"""``driftloop init``: write a spec for your own data (registered on the app in cli/app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from driftloop.config.errors import DriftloopError

TaskOption = Literal["classification", "regression"]


def init(
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet file to look at.")],
    target: Annotated[str, typer.Option("--target", help="Column to predict.")],
    task: Annotated[
        TaskOption | None,
        typer.Option(help="classification or regression (default: inferred from the target)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Spec to write (default: configs/<data>.yaml).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Look at a data file and write a commented spec that prepare, train and serve take."""
    from driftloop.jobs.init import init_spec

    console, err = Console(), Console(stderr=True)
    out = out or Path("configs") / f"{data.stem}.yaml"
    try:
        result = init_spec(data, target, out, task, force)
    except DriftloopError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    spec, inf = result.spec, result.inference
    table = Table(title=f"spec {result.path} ({spec.task})", show_header=True)
    table.add_column("column")
    table.add_column("as")
    table.add_column("why")
    for col in inf.columns:
        table.add_row(col.name, col.role if col.is_feature else "dropped", col.reason)
    console.print(table)
    for key in ("task", "metric", "threshold", "drift"):
        if key in inf.reasons and (key != "threshold" or spec.is_classification):
            console.print(f"[bold]{key}[/]: {inf.reasons[key]}", highlight=False)
    console.print(
        f"next: driftloop prepare --spec {out} && driftloop train --spec {out} "
        f"&& driftloop serve --spec {out}",
        highlight=False,
    )
