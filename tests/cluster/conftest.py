"""Shared fixtures of the deployment tests: the overlays rendered once per session."""

from __future__ import annotations

from typing import Any

import pytest

from driftloop_cluster.render import list_overlays, render_overlay

from ..support.paths import ROOT

DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Objects of every overlay, by overlay name (Secrets from the .env.example files)."""
    return {o.name: render_overlay(o, DEPLOY) for o in list_overlays(DEPLOY)}


def find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str) -> dict[str, Any]:
    """The one object of that kind, name and namespace."""
    matches = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and o["metadata"].get("namespace") == namespace
    ]
    assert len(matches) == 1, f"{kind} {namespace}/{name}: {len(matches)} found"
    return matches[0]
