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
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from driftloop.cli.init_spec import init as init_command
from driftloop.config.errors import DriftloopError

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
    typer.Option(
        "--spec", help="Data set spec (YAML). Default: $DRIFTLOOP_SPEC or configs/telco.yaml."
    ),
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
        except ValidationError as exc:  # a bad DRIFTLOOP_* setting
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            err_console.print(f"[bold red]error:[/] invalid setting: {problems}", highlight=False)
            raise typer.Exit(2) from None
        except OSError as exc:
            from driftloop.adapters.store import StoreUnavailableError

            if isinstance(exc, StoreUnavailableError):
                err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
                raise typer.Exit(1) from None
            raise

    return wrapper  # type: ignore[return-value]


class Context:
    """Settings, spec, store and tracker, built once per command."""

    def __init__(self, spec_path: Path | None = None, store_url: str | None = None) -> None:
        from driftloop.config.logs import configure_logging
        from driftloop.config.settings import Settings

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
            from driftloop.config.spec import load_spec

            self._spec = load_spec(self.settings.spec)
        return self._spec

    @property
    def store(self) -> Any:
        if self._store is None:
            from driftloop.adapters.store import ObjectStore

            self._store = ObjectStore.from_settings(self.settings)
        return self._store

    @property
    def tracker(self) -> Any:
        if self._tracker is None:
            from driftloop.adapters.tracking import Tracker

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
    ctx.store.wait_until_writable(ctx.settings.s3.wait_s)  # MinIO may still be starting
    result = prepare_dataset(s, ctx.store)
    c = result.cleaning
    table = Table(
        title=f"dataset {result.version} ({'written' if result.created else 'unchanged'})"
    )
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
    ctx.store.wait_until_writable(ctx.settings.s3.wait_s)
    result = train_models(ctx.spec, ctx.store, ctx.tracker, dataset_version, err_console)
    metric = ctx.spec.metric
    table = Table(title=f"candidates on dataset {result.dataset_version} (validation split)")
    table.add_column("candidate")
    for m in result.candidates[0].metrics:
        table.add_column(m, justify="right")
    table.add_column("seconds", justify="right")
    for r in result.candidates:
        mark = " *" if r.name == result.best else ""
        table.add_row(r.name + mark, *(f"{v:.4f}" for v in r.metrics.values()), f"{r.seconds:.1f}")
    console.print(table)
    cmp = result.comparison
    console.print(
        f"registered [bold]{result.registered.name} v{result.registered.version}[/] "
        f"({result.best}); test {metric} {cmp['new_score']:.4f}"
        + (
            f" vs champion v{cmp['champion_version']} {cmp['champion_score']:.4f}"
            if cmp.get("champion_version")
            else ""
        )
    )
    console.print(
        "[green]alias champion -> v" + result.registered.version + "[/]"
        if result.promoted
        else f"[yellow]champion unchanged[/]: {cmp['reason']}"
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
    console.print(
        metrics_table(
            f"{result.model_name} v{result.version} on test split of {result.dataset_version} "
            f"({result.rows} rows)",
            result.metrics,
        )
    )
    console.print(f"metrics written to {ctx.store.uri(result.key)}")
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
        ctx.tracker,
        window_rows,
        current_data_path,
        reference_data_path,
        report,
    )
    if result.summary is None:
        console.print(f"[yellow]no check:[/] {result.reason}")
    else:
        table = Table(
            title=f"drift: {result.window.rows} rows vs reference of model "
            f"v{result.model_version} (report {result.report_id})"
        )
        for col in ("feature", "test", "score", "threshold", "missing ref/cur", "verdict"):
            table.add_column(col, justify="right" if col in ("score", "threshold") else "left")
        for f in result.summary.features:
            verdict = ("[red]drift[/] (" + ", ".join(f.signals) + ")") if f.drifted else "ok"
            table.add_row(
                f.feature,
                f.method,
                "-" if f.score is None else f"{f.score:.4f}",
                f"{f.threshold:g}",
                f"{f.missing_share_ref:.0%}/{f.missing_share_cur:.0%}",
                verdict,
            )
        prediction = result.summary.prediction
        if prediction is not None:
            table.add_row(
                "(model output)", prediction.method,
                "-" if prediction.score is None else f"{prediction.score:.4f}",
                f"{prediction.threshold:g}", "", "[red]drift[/]" if prediction.drifted else "ok",
            )  # fmt: skip
        console.print(table)
        console.print(f"mode: {result.summary.mode} (which threshold decided each feature)")
        assert result.decision is not None
        for reason in result.decision.reasons:
            console.print(f"  - {reason}")
        console.print(
            f"[bold red]decision: retrain[/] ({', '.join(result.decision.triggered_by)})"
            if result.retrain
            else "[bold green]decision: no retrain[/]"
        )
        if result.report_uri:
            console.print(f"report: {result.report_uri}")
    if emit:
        receipt = emit_for(result, ctx.settings, ctx.store, source=event_source)
        if receipt is not None:
            assert receipt.event is not None
            console.print(f"event {receipt.event.event_id}: {receipt.status} ({receipt.reason})")
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
    from driftloop.jobs.retrain import retrain_model

    ctx = Context(spec, store_url=data_dir or None)
    result = retrain_model(
        ctx.spec,
        ctx.store,
        ctx.tracker,
        model_dir,
        reference_data_path,
        current_data_path,
        event_id or None,
        promote,
        err_console,
    )
    _print_retrain(result)


def _print_retrain(result: Any) -> None:
    table = Table(title=f"retrain {result.retrain_id}: {result.status}")
    table.add_column("what")
    table.add_column("value")
    gate = result.gate or {}
    rows = [
        ("reason", result.reason),
        ("champion", f"v{result.champion_version}" if result.champion_version else "-"),
        ("challenger", f"v{result.challenger_version}" if result.challenger_version else "-"),
        ("dataset", str(result.dataset_version or "-")),
    ]
    if gate:
        rows += [
            (f"champion {gate['metric']}", f"{gate['champion_score']:.4f}"),
            (f"challenger {gate['metric']}", f"{gate['challenger_score']:.4f}"),
            ("evaluation rows", str(gate["evaluation_rows"])),
        ]
    rows += [(f"rows {k}", str(v)) for k, v in result.rows.items()]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


@app.command()
@handle_errors
def promote(
    model_dir: Annotated[Path, typer.Option(help="The retrain step's model dir.")],
    spec: SpecOption = None,
) -> None:
    """Apply the gate decision a retrain recorded in its model dir."""
    from driftloop.jobs.retrain import promote_from_result

    ctx = Context(spec)
    _print_retrain(promote_from_result(ctx.tracker, ctx.store, model_dir))


EVENT_DUPLICATE = 4  # exit code of `driftloop event verify` for an id claimed before
event_app = typer.Typer(
    help="Drift events: send one by hand, or receive them locally.", no_args_is_help=True
)
app.add_typer(event_app, name="event")


@event_app.command("send")
@handle_errors
def event_send(
    drift_score: Annotated[float, typer.Option(help="Drift score to put in the event.")] = 0.5,
    url: Annotated[
        str | None,
        typer.Option(help="Webhook URL (default: DRIFTLOOP_WEBHOOK__URL; none: local runner)."),
    ] = None,
    features: Annotated[str, typer.Option(help="Comma-separated drifted features.")] = "",
    event_id: Annotated[str | None, typer.Option(help="Event id (default: random).")] = None,
    force_retrain: Annotated[
        bool, typer.Option(help="Retrain even when the workflow's re-check finds no drift.")
    ] = True,
) -> None:
    """Build, sign and send a drift event by hand (the tutorial's {"drift_score": 0.5})."""
    from driftloop.events.delivery import emit_event
    from driftloop.events.model import DriftEvent

    ctx = Context()
    if url:
        ctx.settings.webhook.url = url
    champion = ctx.tracker.alias_version("champion") if not url else None
    event = DriftEvent(
        source="manual",
        drift_score=drift_score,
        drifted_features=[f for f in features.split(",") if f],
        model_name=ctx.settings.model_name,
        model_version=champion.version if champion else None,
        dataset_version=champion.dataset_version if champion else None,
        data_dir=ctx.store.url,
        force_retrain=force_retrain,
        **({"event_id": event_id} if event_id else {}),
    )
    receipt = emit_event(event, ctx.settings, ctx.store)
    console.print(f"event {event.event_id}: {receipt.status} ({receipt.reason})")
    if receipt.status == "rejected":
        raise typer.Exit(1)


@event_app.command("verify")
@handle_errors
def event_verify(
    event: Annotated[str, typer.Option(help="The event body as the webhook received it.")],
    signature: Annotated[str, typer.Option(help="Its X-Driftloop-Signature header.")] = "",
) -> None:
    """Check an event's signature and claim its id, before a workflow acts on it.

    Exit 0: accepted (or no event: a workflow submitted by hand); 2: bad signature or body;
    4: the id was claimed before (a replay or a second delivery): nothing more may run."""
    from driftloop.config.errors import InputError
    from driftloop.events.intake import receive_event

    ctx = Context()
    if not event.strip():
        console.print("no event: submitted by hand, nothing to verify")
        return
    secret = ctx.settings.effective_webhook_secret()
    if secret is None:
        raise InputError("no webhook secret: set DRIFTLOOP_WEBHOOK__SECRET")
    receipt = receive_event(event, signature, secret, ctx.store)
    named = f"event {receipt.event.event_id}" if receipt.event else "event"
    console.print(f"{named}: {receipt.status} ({receipt.reason})")
    if receipt.status != "accepted":
        raise typer.Exit(2 if receipt.status == "rejected" else EVENT_DUPLICATE)


@event_app.command("listen")
@handle_errors
def event_listen(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (Argo Events' webhook uses 12000).")] = 12000,
) -> None:
    """Receive drift events on POST /drift-detected and start retrains locally."""
    import uvicorn

    from driftloop.events.receiver import create_receiver_app

    ctx = Context()
    uvicorn.run(create_receiver_app(ctx.settings), host=host, port=port, log_level="warning")


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
        typer.Option(help="The server's /admin/reload URL (or its base URL)."),
    ] = "http://127.0.0.1:8000/admin/reload",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 120.0,
) -> None:
    """Tell a running server to load the champion now (uses $DRIFTLOOP_ADMIN_TOKEN)."""
    import httpx

    from driftloop.config.errors import InputError

    ctx = Context()
    token = ctx.settings.effective_admin_token()
    if token is None:
        raise InputError("DRIFTLOOP_ADMIN_TOKEN is not set (needed outside development)")
    if not url.rstrip("/").endswith("/admin/reload"):
        url = url.rstrip("/") + "/admin/reload"
    try:
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        err_console.print(f"[bold red]error:[/] cannot reach {url}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    if response.status_code != 200:
        detail = body.get("error") or body.get("detail") or body
        err_console.print(
            f"[bold red]error:[/] reload failed ({response.status_code}): {detail}", highlight=False
        )
        raise typer.Exit(1)
    if body.get("changed"):
        console.print(
            f"[green]reloaded[/]: v{body.get('previous_version')} -> v{body.get('serving_version')}"
        )
    else:
        console.print(f"unchanged: serving v{body.get('serving_version')}")


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
    from driftloop.jobs.demo import run_demo, summary_view

    spec_path = (spec or Path(os.environ.get("DRIFTLOOP_SPEC", "configs/telco.yaml"))).resolve()
    result = run_demo(state_dir.resolve(), spec_path, console)
    console.print(summary_view(result))
    if not result.closed:
        raise typer.Exit(1)


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

    from driftloop.jobs.status import fetch_remote_status, gather_local_status, status_view

    if url:
        facts = fetch_remote_status(url)
    else:
        ctx = Context(spec)
        try:
            loaded_spec = ctx.spec
        except DriftloopError as exc:  # the facts that need no spec are still worth showing
            err_console.print(f"[yellow]warning:[/] {exc}", highlight=False)
            loaded_spec = None
        facts = gather_local_status(ctx.settings, loaded_spec, ctx.store, ctx.tracker)
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
