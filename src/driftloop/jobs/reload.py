"""``driftloop reload``: ask a running server to load the champion now, over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftloop.config.errors import DriftloopError

RELOAD_PATH = "/admin/reload"


@dataclass(frozen=True)
class ReloadResult:
    """What the server answered: whether it swapped models, and the versions either side."""

    changed: bool
    serving_version: Any
    previous_version: Any


def reload_url(url: str) -> str:
    """The ``/admin/reload`` endpoint for a server's base URL or the endpoint itself."""
    base = url.rstrip("/")
    return base if base.endswith(RELOAD_PATH) else base + RELOAD_PATH


def reload_server(url: str, token: str, timeout_s: float = 120.0) -> ReloadResult:
    """POST the server's reload endpoint with the admin token; any answer but 200 (or no
    answer) is a ``DriftloopError`` saying what the server said."""
    import httpx

    endpoint = reload_url(url)
    try:
        response = httpx.post(
            endpoint, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise DriftloopError(f"cannot reach {endpoint}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    if not isinstance(body, dict):
        body = {"error": body}
    if response.status_code != 200:
        detail = body.get("error") or body.get("detail") or body
        raise DriftloopError(f"reload failed ({response.status_code}): {detail}")
    return ReloadResult(
        bool(body.get("changed")), body.get("serving_version"), body.get("previous_version")
    )
