"""API-key checks shared by every HTTP entry point (ingest and query)."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable

from pydantic import SecretStr


def key_from_headers(authorization: str | None, x_api_key: str | None = None) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>``, HTTP Basic whose password is the key
    (Langfuse exporters send ``public:secret``), or an ``x-api-key`` header."""
    if x_api_key:
        return x_api_key.strip()
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def key_is_valid(presented: str | None, keys: Iterable[SecretStr]) -> bool:
    """Constant-time comparison against every configured key (no early exit that leaks which one matched)."""
    if presented is None:
        return False
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(presented.encode(), key.get_secret_value().encode())
    return ok
