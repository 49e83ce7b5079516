"""HMAC-SHA256 signatures over event bodies (``X-Driftloop-Signature: sha256=<hex>``)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Driftloop-Signature"
_PREFIX = "sha256="


def sign_body(body: bytes, secret: str) -> str:
    """The signature header value for a body."""
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{mac}"


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when the header is a valid signature of the body (constant-time comparison)."""
    if not header or not header.startswith(_PREFIX) or not secret:
        return False
    return hmac.compare_digest(sign_body(body, secret), header.strip())
