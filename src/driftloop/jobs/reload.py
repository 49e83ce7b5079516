"""``driftloop reload``: ask running servers to load the champion now, over HTTP.

Two kinds of server: the driftloop API (``POST /admin/reload`` with the admin token; it
answers which versions it swapped) and MLServer (``POST /v2/repository/models/<name>/load``,
its model repository API). MLServer 1.7 re-reads the model's settings on a ``load`` of a
loaded model, loads a new instance (the MLflow runtime resolves ``models:/<name>@champion``
again) and only then unloads the old one, so it keeps answering throughout; a failed load
leaves the old model serving. Afterwards ``/v2/models/<name>/ready`` must answer 200.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from driftloop.config.errors import DriftloopError

RELOAD_PATH = "/admin/reload"


@dataclass(frozen=True)
class ReloadResult:
    """What the server answered: whether it swapped models, and the versions either side."""

    changed: bool
    serving_version: Any
    previous_version: Any


@dataclass(frozen=True)
class MLServerReloadResult:
    """MLServer re-loaded the model (re-resolving its URI) and says it is ready."""

    url: str
    model_name: str


@dataclass(frozen=True)
class ReloadOutcome:
    """One server's reload: its URL, and either a result or the error message."""

    url: str
    result: ReloadResult | MLServerReloadResult | None
    error: str | None = None


def reload_url(url: str) -> str:
    """The ``/admin/reload`` endpoint for a server's base URL or the endpoint itself."""
    base = url.rstrip("/")
    return base if base.endswith(RELOAD_PATH) else base + RELOAD_PATH


def _post(endpoint: str, timeout_s: float, headers: dict[str, str] | None = None) -> Any:
    import httpx

    try:
        return httpx.post(endpoint, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise DriftloopError(f"cannot reach {endpoint}: {exc}") from None


def _error_detail(response: Any) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        return body.get("error") or body.get("detail") or body
    return body


def reload_server(url: str, token: str, timeout_s: float = 120.0) -> ReloadResult:
    """POST the server's reload endpoint with the admin token; any answer but 200 (or no
    answer) is a ``DriftloopError`` saying what the server said."""
    endpoint = reload_url(url)
    response = _post(endpoint, timeout_s, {"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        raise DriftloopError(
            f"reload failed at {endpoint} ({response.status_code}): {_error_detail(response)}"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise DriftloopError(f"reload at {endpoint} answered 200 but not a JSON object")
    return ReloadResult(
        bool(body.get("changed")), body.get("serving_version"), body.get("previous_version")
    )


def reload_mlserver(url: str, model_name: str, timeout_s: float = 120.0) -> MLServerReloadResult:
    """Ask MLServer to load ``model_name`` again, then check it is ready; a
    ``DriftloopError`` naming the URL otherwise."""
    import httpx

    base = url.rstrip("/")
    endpoint = f"{base}/v2/repository/models/{model_name}/load"
    response = _post(endpoint, timeout_s)
    if response.status_code != 200:
        raise DriftloopError(
            f"MLServer load failed at {endpoint} ({response.status_code}): "
            f"{_error_detail(response)}"
        )
    ready = f"{base}/v2/models/{model_name}/ready"
    try:
        status = httpx.get(ready, timeout=timeout_s).status_code
    except httpx.HTTPError as exc:
        raise DriftloopError(f"cannot reach {ready}: {exc}") from None
    if status != 200:
        raise DriftloopError(f"MLServer at {base} loaded {model_name} but it is not ready "
                             f"({ready} answered {status})")  # fmt: skip
    return MLServerReloadResult(base, model_name)


def _attempt(url: str, call: Callable[[], ReloadResult | MLServerReloadResult]) -> ReloadOutcome:
    try:
        return ReloadOutcome(url, call())
    except DriftloopError as exc:
        return ReloadOutcome(url, None, str(exc))


def reload_all(
    api_urls: Sequence[str],
    mlserver_urls: Sequence[str],
    *,
    token: str,
    model_name: str,
    timeout_s: float = 120.0,
) -> list[ReloadOutcome]:
    """Reload every API and every MLServer, each whatever the others did (one failure
    does not keep the rest on the old model); the outcomes in that order."""
    outcomes = [_attempt(u, partial(reload_server, u, token, timeout_s)) for u in api_urls]
    for url in mlserver_urls:
        outcomes.append(_attempt(url, partial(reload_mlserver, url, model_name, timeout_s)))
    return outcomes
