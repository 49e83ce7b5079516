"""When MLflow fails for want of an answer: an outage to retry, told apart from an answer."""

from __future__ import annotations

from driftloop.config.errors import DriftloopError


class TrackingUnavailableError(DriftloopError):
    """The MLflow tracking server did not answer (refused, timed out, retries exhausted):
    an outage to retry (exit 1), not a missing model or bad input."""


def tracking_outage(
    exc: BaseException, tracking_uri: str | None = None
) -> TrackingUnavailableError | None:
    """``exc`` as an outage naming the server (default: the one the failed request went to)
    when MLflow raised it because no HTTP answer came (its REST client wraps the
    ``requests`` error); None for an answer such as "not found"."""
    import requests

    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, requests.exceptions.RequestException):
        return None
    url = str(getattr(cause.request, "url", None) or "")
    # MLflow's REST endpoints are <server>/api/... (or /ajax-api/...)
    uri = tracking_uri or url.partition("/ajax-api/")[0].partition("/api/")[0]
    where = f" at {uri}" if uri else ""
    return TrackingUnavailableError(
        f"cannot reach the MLflow tracking server{where} ({type(cause).__name__})"
    )


def raise_if_outage(exc: BaseException, tracking_uri: str) -> None:
    """Raise the outage ``exc`` stands for; return when the server answered."""
    outage = tracking_outage(exc, tracking_uri)
    if outage is not None:
        raise outage from exc
