"""`driftloop event …`: send a drift event by hand, verify one in a workflow, receive locally."""

from __future__ import annotations

from typing import Annotated

import typer

from driftloop.cli import views
from driftloop.cli.context import Context, console, handle_errors

EVENT_DUPLICATE = 4  # exit code of `driftloop event verify` for an id claimed before
event_app = typer.Typer(
    help="Drift events: send one by hand, or receive them locally.", no_args_is_help=True
)


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

    ctx = Context(webhook={"url": url} if url else None)
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
    console.print(views.receipt_line(event.event_id, receipt))
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
