"""The ``driftloop`` command line: thin wrappers that build settings, call a job and print
its result (the drawing is in ``views``, ``status_view`` and ``progress_views``).

Heavy libraries (MLflow, Evidently, scikit-learn) are imported inside commands so that
``driftloop --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from driftloop.cli import views
from driftloop.cli.context import Context, console, err_console, handle_errors
from driftloop.cli.event_commands import event_app
from driftloop.cli.init_spec import init as init_command
from driftloop.config.errors import DriftloopError

app = typer.Typer(
    name="driftloop",
    help="Keep a deployed tabular model healthy: prepare, train, serve, detect, retrain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="Data set spec (YAML). Default: $DRIFTLOOP_SPEC or configs/telco.yaml."
    ),
]


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
    ctx.store.wait_until_writable(ctx.settings.s3.wait_s)  # MinIO may still be starting
    console.print(views.prepare_view(prepare_dataset(s, ctx.store)))


@app.command()
@handle_errors
def train(
    spec: SpecOption = None,
    dataset_version: Annotated[
        str | None, typer.Option(help="Dataset version (default: the latest prepared).")
    ] = None,
) -> None:
    """Train every candidate in the spec, track them in MLflow, register the best."""
    from driftloop.cli.progress_views import TrainingBar
    from driftloop.jobs.train import train_models

    ctx = Context(spec)
    ctx.store.wait_until_writable(ctx.settings.s3.wait_s)
    with TrainingBar(err_console) as bar:
        result = train_models(ctx.spec, ctx.store, ctx.tracker, dataset_version, progress=bar)
    console.print(views.train_view(result, ctx.spec.metric))


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
    console.print(views.evaluate_view(result, ctx.store.uri(result.key)))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2))


DETECT_EXIT_RETRAIN = 3


@app.command()
@handle_errors
def detect(
    spec: SpecOption = None,
    window_rows: Annotated[
        int | None,
        typer.Option(help="Newest logged rows to check (default: spec drift.window_rows)."),
    ] = None,
    current_data_path: Annotated[
        str, typer.Option(help="Check this Parquet/CSV instead of the inference log.")
    ] = "",
    reference_data_path: Annotated[
        str, typer.Option(help="Compare with this instead of the champion's reference.")
    ] = "",
    emit: Annotated[
        bool, typer.Option(help="Emit a signed drift event on a retrain decision.")
    ] = False,
    report: Annotated[bool, typer.Option(help="Render the Evidently HTML report.")] = True,
    output: Annotated[Path | None, typer.Option(help="Also write the summary JSON here.")] = None,
    event_source: Annotated[
        str, typer.Option(help="Who the emitted event names as its source.", hidden=True)
    ] = "detect",
) -> None:
    """Check production data for drift. Exit 0: no retrain; 3: retrain decided; 2: bad input."""
    import json

    from driftloop.config.errors import InputError
    from driftloop.jobs.detect import detect_drift, emit_for

    ctx = Context(spec)
    if emit and ctx.settings.effective_webhook_secret() is None:  # fail before the work
        raise InputError("--emit signs drift events: set DRIFTLOOP_WEBHOOK__SECRET")
    result = detect_drift(
        ctx.spec,
        ctx.store,
        ctx.deferred_tracker(),
        window_rows,
        current_data_path,
        reference_data_path,
        report,
    )
    console.print(views.detect_view(result))
    if emit:
        receipt = emit_for(result, ctx.settings, ctx.store, source=event_source)
        if receipt is not None:
            assert receipt.event is not None
            console.print(views.receipt_line(receipt.event.event_id, receipt))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    if result.retrain:
        raise typer.Exit(DETECT_EXIT_RETRAIN)


@app.command()
@handle_errors
def retrain(
    spec: SpecOption = None,
    data_dir: Annotated[str, typer.Option(help="Object store root (default: settings).")] = "",
    model_dir: Annotated[
        Path | None, typer.Option(help="Folder for retrain-result.json (read by `promote`).")
    ] = None,
    reference_data_path: Annotated[
        str, typer.Option(help="Base training data ('' = the champion's training split).")
    ] = "",
    current_data_path: Annotated[
        str, typer.Option(help="Labelled recent data ('' = inference log joined with feedback).")
    ] = "",
    event_id: Annotated[str | None, typer.Option(help="Drift event that triggered this.")] = None,
    promote: Annotated[bool, typer.Option(help="Promote when the gate passes.")] = True,
) -> None:
    """Train a challenger on old + labelled production data; promote it only if it wins."""
    from driftloop.cli.progress_views import TrainingBar
    from driftloop.jobs.retrain import retrain_model

    ctx = Context(spec, store_url=data_dir)
    with TrainingBar(err_console) as bar:
        result = retrain_model(
            ctx.spec,
            ctx.store,
            ctx.tracker,
            model_dir,
            reference_data_path,
            current_data_path,
            event_id or None,
            promote,
            progress=bar,
        )
    console.print(views.retrain_view(result))


@app.command()
@handle_errors
def promote(
    model_dir: Annotated[Path, typer.Option(help="The retrain step's model dir.")],
    spec: SpecOption = None,
) -> None:
    """Apply the gate decision a retrain recorded in its model dir."""
    from driftloop.jobs.retrain import promote_from_result

    ctx = Context(spec)
    console.print(views.retrain_view(promote_from_result(ctx.tracker, ctx.store, model_dir)))


app.add_typer(event_app, name="event")


@app.command()
@handle_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: $DRIFTLOOP_SERVER__HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: $DRIFTLOOP_SERVER__PORT, 8000).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="uvicorn worker processes (default: $DRIFTLOOP_SERVER__WORKERS)."),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="Log level: debug logs every request, info the lifecycle.")
    ] = "info",
) -> None:
    """Serve the champion over HTTP (FastAPI + uvicorn); http://HOST:PORT/docs lists it."""
    import os

    # LightGBM's OpenMP threads fight over two cores when several workers predict
    # (PITFALLS); this must be set before LightGBM is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from driftloop.serve.app import LOG_LEVEL_ENV, check_serve_settings

    ctx = Context()
    check_serve_settings(ctx.settings)
    server = ctx.settings.server
    os.environ[LOG_LEVEL_ENV] = log_level.upper()
    import uvicorn

    uvicorn.run(
        "driftloop.serve.app:create_app_from_env",
        factory=True,
        host=host or server.host,
        port=port or server.port,
        workers=workers or server.workers,
        access_log=False,  # the service logs requests itself (DEBUG), at a fraction of the cost
        log_level=log_level.lower(),
        lifespan="on",
    )


@app.command()
@handle_errors
def reload(
    url: Annotated[
        str,
        typer.Option(help="The API's /admin/reload URL (or its base URL); empty: no API."),
    ] = "http://127.0.0.1:8000/admin/reload",
    mlserver_url: Annotated[
        list[str] | None,
        typer.Option(
            help="An MLServer's base URL: it loads the model again (re-resolving "
            "@champion); repeat for several; empty: none."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 120.0,
) -> None:
    """Tell running servers to load the champion now: the API (uses $DRIFTLOOP_ADMIN_TOKEN)
    and each --mlserver-url; exit 1 naming every server that failed."""
    from driftloop.config.errors import DriftloopError, InputError
    from driftloop.jobs.reload import reload_all

    settings = Context().settings
    api_urls = [url] if url else []
    mlserver_urls = [u for u in mlserver_url or [] if u]
    if not api_urls and not mlserver_urls:
        raise InputError("nothing to reload: give --url or --mlserver-url")
    token = settings.effective_admin_token()
    if token is None and api_urls:
        raise InputError("DRIFTLOOP_ADMIN_TOKEN is not set (needed outside development)")
    outcomes = reload_all(
        api_urls,
        mlserver_urls,
        token=token or "",
        model_name=settings.model_name,
        timeout_s=timeout,
    )
    for outcome in outcomes:
        if outcome.error is None:
            console.print(views.reload_line(outcome))
    failed = [o.error for o in outcomes if o.error is not None]
    if failed:
        raise DriftloopError(
            f"{len(failed)} of {len(outcomes)} reloads failed: " + "; ".join(failed)
        )


@app.command()
@handle_errors
def demo(
    state_dir: Annotated[
        Path, typer.Option(help="State folder for the demo (wiped first).")
    ] = Path(".driftloop/demo"),
    spec: SpecOption = None,
) -> None:
    """Run the whole loop locally, from nothing; exit 0 only if it closed."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from driftloop.cli.progress_views import Timeline
    from driftloop.config.settings import reject_unknown_variables
    from driftloop.jobs.demo import STEPS, run_demo
    from driftloop.jobs.progress import Step

    reject_unknown_variables(os.environ)  # before the state folder is wiped
    spec_path = (spec or Path(os.environ.get("DRIFTLOOP_SPEC", "configs/telco.yaml"))).resolve()
    with Timeline(console, [Step(name) for name in STEPS]) as timeline:
        result = run_demo(state_dir.resolve(), spec_path, progress=timeline)
    console.print(views.demo_summary_view(result))
    if not result.closed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def compact() -> None:
    """Merge past days' inference segments into daily files, move a flat-layout store into
    day folders, and delete history older than DRIFTLOOP_RETENTION__* days."""
    from driftloop.jobs.compact import compact as compact_store

    ctx = Context(None)
    result = compact_store(ctx.store, ctx.settings.retention)
    console.print(
        f"compacted {result.segments_merged} segments into {result.days_compacted} daily "
        f"files; migrated {result.migrated}; deleted {result.deleted}"
    )


@app.command()
@handle_errors
def status(
    url: Annotated[
        str | None,
        typer.Option(help="A running server's base URL; default: the local state folder."),
    ] = None,
    spec: SpecOption = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows shown per table.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """The loop at a glance: serving model, drift windows, events/retrains/gate, traffic,
    live quality (what the server's /dashboard page shows)."""
    import json

    from driftloop.cli.status_view import status_view
    from driftloop.jobs.status import fetch_remote_status, gather_local_status

    if url:
        facts = fetch_remote_status(url)
    else:
        ctx = Context(spec)
        try:
            loaded_spec = ctx.spec
        except DriftloopError as exc:  # the facts that need no spec are still worth showing
            err_console.print(f"[yellow]warning:[/] {exc}", highlight=False)
            loaded_spec = None
        facts = gather_local_status(ctx.settings, loaded_spec, ctx.store, ctx.deferred_tracker())
    if as_json:
        console.print_json(json.dumps(facts, default=str))
    else:
        console.print(status_view(facts, rows))


app.command("init")(init_command)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
