"""No committed manifest, doc or build file holds a literal that looks like a credential."""

from __future__ import annotations

import random
import secrets
import string
from pathlib import Path

import pytest

from driftloop_cluster.check import CREDENTIAL_ROOTS
from driftloop_cluster.credentials import files_to_scan, scan_paths, scan_text

from .conftest import ROOT


def test_repository_has_no_credential_literals() -> None:
    findings = scan_paths([ROOT / r for r in CREDENTIAL_ROOTS])
    assert findings == [], "\n".join(map(str, findings))


def test_the_scan_reads_manifests_docs_and_build_files() -> None:
    scanned = {
        p.relative_to(ROOT).as_posix()
        for p in files_to_scan([ROOT / r for r in CREDENTIAL_ROOTS if (ROOT / r).exists()])
    }
    for expected in (
        "deploy/base/mlflow/mlflow.yaml",
        "deploy/overlays/dev/secrets/postgres.env.example",
        "docs/deploy.md",
        "docker/driftloop/Dockerfile",
        ".github/workflows/ci.yml",
    ):
        assert expected in scanned
    assert not any("/schemas/" in p for p in scanned)


# Credential-shaped values are built at run time so this file holds none itself; the random
# ones come from a seeded generator, so every pytest-xdist worker collects the same ids.
AWS_KEY = "AKIA" + "Q" * 4 + "7" * 12
_RNG = random.Random(20261128)


def _random_text(n: int, alphabet: str) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


_URLSAFE = string.ascii_letters + string.digits + "-_"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f"aws_access_key_id: {AWS_KEY}", "AWS access key id"),
        ("-----BEGIN RSA " + "PRIVATE KEY-----", "private key"),
        ("gh" + "p_" + "a1B2" * 9, "GitHub token"),
        ("MINIO_ROOT_USER=" + "minio" + "admin", "MinIO default credentials"),
        (
            "uri: postgresql://mlflow:" + "hunter2x" + "@postgres:5432/mlflow",
            "password inside a URL",
        ),
        (
            "curl -H 'Authorization: Bearer " + _random_text(32, _URLSAFE) + "'",
            "literal bearer token",
        ),
        ("POSTGRES_PASSWORD=" + "correcthorse", "value assigned to 'POSTGRES_PASSWORD'"),
        ("  token: " + "plain-text-value", "value assigned to 'token'"),
        ("data: " + _random_text(43, _URLSAFE), "random-looking string"),
        ("key " + _random_text(48, string.hexdigits.lower()[:16]), "random-looking string"),
    ],
)
def test_credential_shapes_are_found(line: str, reason: str) -> None:
    reasons = [f.reason for f in scan_text(line)]
    assert any(r.startswith(reason) for r in reasons), reasons


@pytest.mark.parametrize(
    "line",
    [
        "POSTGRES_PASSWORD=change-me",
        "ADMIN_TOKEN=<your token>",
        "--backend-store-uri postgresql://$(POSTGRES_USER):$(POSTGRES_PASSWORD)@postgres:5432/db",
        "export DRIFTLOOP_ADMIN_TOKEN=$(kubectl -n fastapi get secret driftloop-admin -o json)",
        "TOKEN=${DRIFTLOOP_WEBHOOK__TOKEN}",
        "- name: DRIFTLOOP_ADMIN_TOKEN",
        "secretKeyRef:",
        "  key: SECRET_ACCESS_KEY",
        "image: quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z",
        "image: driftloop@sha256:" + "ab12" * 16,
        "url: https://raw.githubusercontent.com/argoproj/argo-workflows/HEAD/api/jsonschema/schema.json",
        "authSecret:",
    ],
)
def test_placeholders_and_references_pass(line: str) -> None:
    assert scan_text(line) == []


def test_untracked_env_files_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "real.env").write_text("POSTGRES_PASSWORD=" + secrets.token_hex(16) + "\n")
    (tmp_path / "real.env.example").write_text("POSTGRES_PASSWORD=change-me\n")
    assert [p.name for p in files_to_scan([tmp_path])] == ["real.env.example"]
    assert scan_paths([tmp_path]) == []
